// Key Vault in RBAC mode with purge protection. It holds this app's two secrets only:
// - the Partner Center (Entra web app) client secret, written here when a value is passed, and
// - the refresh-token slot: its NAME is configured in the app settings; its value is written by the
//   operator after the one-time consent (docs/deployment.md), and by the app itself when token
//   write-back is on. Bicep never writes the refresh token: a redeploy would roll back a rotated token.

param name string
param location string
param tags object = {}

@description('Name of the client-secret secret.')
param clientSecretName string

@description('Partner Center app client secret; empty = leave the secret as it is (set it with az keyvault secret set).')
@secure()
param clientSecretValue string = ''

@description('Expiry of the client secret as Unix time (the Entra secret\'s own end date); 0 = none given.')
param clientSecretExpiresOn int = 0

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109: no VNet in this design; the Function App on Flex/Consumption has no fixed egress IPs, so a default-deny firewall would block it. Access is RBAC only, to one identity, on a vault holding two secrets.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: the app reaches the vault over its public endpoint, authenticated with its managed identity.
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource clientSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecretValue)) {
  parent: vault
  name: clientSecretName
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov does not read the properties of a conditional (if) resource.
  // checkov:skip=CKV_AZURE_41: exp is set from clientSecretExpiresOn, the Entra secret's real end date, when the operator passes it; an invented expiry would make Key Vault refuse the secret while Entra still accepts it.
  properties: {
    value: clientSecretValue
    contentType: 'text/plain; partner-center-client-secret'
    attributes: (clientSecretExpiresOn > 0) ? {
      enabled: true
      exp: clientSecretExpiresOn
    } : {
      enabled: true
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
