// Role assignments, each with the narrowest built-in role at the narrowest scope that works.
// Names are guid(scope, principal, role) so a redeploy finds the same assignment.

@description('Principal id of the app\'s user-assigned identity.')
param appPrincipalId string

@description('Principal id of the KEDA scaler identity; empty = no Container Apps worker.')
param scalerPrincipalId string = ''

param hostStorageName string
param cacheStorageName string
param cacheContainerName string

@description('The container of the daily reconciliation reports, in the cache storage account.')
param reportContainerName string

@description('The attestation ledger table, in the cache storage account.')
param ledgerTableName string
param serviceBusNamespaceName string
param queueName string

@description('The queue the app sends CRM notifications to (Sender only, on that queue alone).')
param notificationsQueueName string

param keyVaultName string
param refreshTokenSecretName string

@description('true = the app writes rotated refresh tokens back (Secrets Officer on that one secret).')
param refreshTokenWriteBack bool = false

// Built-in role definition ids (identical in every tenant).
var roles = {
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2552a45a'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource cacheStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: cacheStorageName
}

resource cacheBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: cacheStorage
  name: 'default'
}

resource cacheContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: cacheBlobService
  name: cacheContainerName
}

resource reportContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: cacheBlobService
  name: reportContainerName
}

resource cacheTableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: cacheStorage
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: cacheTableService
  name: ledgerTableName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = {
  parent: namespace
  name: queueName
}

resource notificationsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = {
  parent: namespace
  name: notificationsQueueName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource refreshTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: refreshTokenSecretName
}

// Functions host state (AzureWebJobsStorage: leases, keys, timer schedule status) and, on Flex
// Consumption, the deployment package. The host creates its own containers, which needs Blob Data Owner
// on the account (documented requirement for identity-based host storage). This is a separate account
// from the metadata cache, so the broad role does not reach the app's data.
resource hostStorageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    description: 'Functions host storage (AzureWebJobsStorage) and deployment package'
  }
}

// Metadata cache: read and write blobs in one container only.
resource cacheContainerContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cacheContainer.id, appPrincipalId, roles.storageBlobDataContributor)
  scope: cacheContainer
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    description: 'Agreement-metadata cache container'
  }
}

// Reconciliation reports: the daily timer writes its HTML and JSON reports to one container only. Blob Data
// Contributor is the narrowest built-in role that can write a blob (Reader cannot; there is no write-only
// built-in role), and the container scope keeps it off the metadata cache and everything else.
resource reportContainerContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(reportContainer.id, appPrincipalId, roles.storageBlobDataContributor)
  scope: reportContainer
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    description: 'Daily reconciliation reports container'
  }
}

// Attestation ledger: read and write entities of one table only.
resource ledgerTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ledgerTable.id, appPrincipalId, roles.storageTableDataContributor)
  scope: ledgerTable
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    description: 'Attestation ledger table'
  }
}

// Receive and settle events (complete, dead-letter) on the one queue.
resource queueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, appPrincipalId, roles.serviceBusDataReceiver)
  scope: queue
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    description: 'Receive and settle attestation events'
  }
}

// Schedule retry copies onto the same queue.
resource queueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, appPrincipalId, roles.serviceBusDataSender)
  scope: queue
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    description: 'Schedule retry copies of attestation events'
  }
}

// Tell the CRM about enhanced attestations (acceptance link, terminal states): send to the notifications queue
// only. The CRM receives from it with its own identity; the app never reads or settles there.
resource notificationsQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(notificationsQueue.id, appPrincipalId, roles.serviceBusDataSender)
  scope: notificationsQueue
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    description: 'Send CRM notifications of enhanced attestations'
  }
}

// Read secrets. The vault is dedicated to this app and holds exactly its two secrets (client secret and
// refresh token), so the vault scope grants nothing more than those; it also works before the operator
// has written the refresh token (a role on a secret needs the secret to exist).
resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    description: 'Read the Partner Center client secret and refresh token'
  }
}

// Token write-back: set new versions of the refresh-token secret, and of nothing else. The secret must
// exist before this is deployed (docs/deployment.md, step "enable write-back").
resource refreshTokenOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (refreshTokenWriteBack) {
  name: guid(refreshTokenSecret.id, appPrincipalId, roles.keyVaultSecretsOfficer)
  scope: refreshTokenSecret
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    description: 'Write rotated Partner Center refresh tokens back'
  }
}

// KEDA's Service Bus scaler reads the queue's runtime properties (message count), which Service Bus
// authorises only for the Manage right, i.e. Data Owner. A separate identity, used by the scale rule
// alone, carries it, so the identity the worker code runs with stays Receiver + Sender.
resource scalerQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(scalerPrincipalId)) {
  name: guid(queue.id, empty(scalerPrincipalId) ? 'none' : scalerPrincipalId, roles.serviceBusDataOwner)
  scope: queue
  properties: {
    principalId: scalerPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    description: 'KEDA scaler: read queue length'
  }
}
