// User-assigned managed identities: one the app uses for everything it touches, and (only when the
// Container Apps worker is deployed) one the KEDA scaler uses to read the queue length.

@description('Name of the app identity.')
param name string

@description('Name of the scaler identity; empty = do not create one.')
param scalerName string = ''

param location string
param tags object = {}

resource app 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

resource scaler 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (!empty(scalerName)) {
  name: empty(scalerName) ? 'unused' : scalerName
  location: location
  tags: tags
}

output id string = app.id
output name string = app.name
output clientId string = app.properties.clientId
output principalId string = app.properties.principalId
output scalerId string = empty(scalerName) ? '' : scaler.id
output scalerPrincipalId string = empty(scalerName) ? '' : scaler.properties.principalId
