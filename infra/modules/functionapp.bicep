// The Function App (Python 3.13, Linux) and its plan: Flex Consumption by default, Linux Consumption
// where Flex is not offered. Runs as the user-assigned identity; every connection is identity-based.

param name string
param planName string
param location string
param tags object = {}

@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string = 'FlexConsumption'

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Host storage account (AzureWebJobsStorage and the deployment package).')
param hostStorageName string

@description('Container holding the deployment package.')
param deploymentContainerName string

@description('App settings, name -> value (built in main.bicep).')
param appSettings object

@description('Flex Consumption: most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Flex Consumption: memory per instance.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

var isFlex = hostingPlan == 'FlexConsumption'

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: Linux Consumption has no zone redundancy and this app needs none: it is queue-driven, so during a zone outage events wait in Service Bus and are processed afterwards.
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: 'Y1'
    tier: 'Dynamic'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: the app has no HTTP functions; the public endpoint stays on because deployments (func publish, azd deploy) reach the SCM site from outside any VNet. Basic publishing credentials are disabled, so those use Entra ID.
  // checkov:skip=CKV_AZURE_17: no HTTP functions, so there are no callers to present client certificates.
  // checkov:skip=CKV_AZURE_212: Consumption and Flex Consumption plans scale from zero and have no fixed instance count to set.
  // checkov:skip=CKV_AZURE_213: a health check needs an HTTP endpoint; the app has none. Failures surface through the function-failure and dead-letter alerts.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    // The app has no HTTP functions; SCM stays reachable for deployments, which use Entra tokens.
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|3.13'
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: string(setting.value)
      }]
    }
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    } : null
  }
}

// Deployments authenticate with Entra ID (func / azd use a bearer token), never with basic credentials.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
