// A locked-down StorageV2 account: Entra ID only (no shared keys), TLS 1.2, no anonymous blob access,
// soft delete for blobs and containers, plus the listed private containers and tables.

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

@description('Private blob containers to create.')
param containerNames array = []

@description('Tables to create (the attestation ledger).')
param tableNames array = []

@description('Redundancy. ZRS survives a zone outage; LRS is enough for a cache or host state in a single-zone region.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  // checkov:skip=CKV_AZURE_35: no VNet in this design; Flex/Consumption workers have no fixed egress IPs, so a default-deny firewall would lock the Functions host out. Access is Entra ID only (allowSharedKeyAccess false) and RBAC-scoped.
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: the public endpoint is needed without VNet integration; anonymous access is off (allowBlobPublicAccess false) and keys are disabled.
  // checkov:skip=CKV_AZURE_206: both accounts hold rebuildable data only (host leases/timer status and the deployment package; a cache refetched from Partner Center), so geo-replication buys nothing; skuName can be raised per environment.
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = if (!empty(tableNames)) {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
