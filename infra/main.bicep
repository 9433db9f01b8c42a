// mca-attest: attests Microsoft Customer Agreement acceptance to Partner Center from Service Bus events.
//
// Deploy to an existing resource group, with either tool:
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.az.parameters.json
//   azd up            (azure.yaml at the repo root; AZURE_RESOURCE_GROUP selects the group)
// docs/deployment.md walks through the whole procedure.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------

@description('Name of the environment (azd environment name); seeds resource names and tags.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('FlexConsumption (recommended) or Consumption (Linux, for regions without Flex).')
@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption: most instances. Partner Center throttles per partner tenant, so more instances mostly means more 429s.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('The partner\'s Entra tenant id.')
param partnerTenantId string

@description('Application (client) id of the partner\'s Entra web app registered for Partner Center.')
param partnerCenterClientId string

@description('app_user (Secure Application Model, refresh token) or app_only (client credentials).')
@allowed([
  'app_user'
  'app_only'
])
param partnerCenterAuthMode string = 'app_user'

@description('How the app authenticates to Entra: certificate (a signed assertion, preferred) or secret. With certificate, the Key Vault client credential secret holds the PEM (private key + certificate), as Key Vault exposes an imported certificate.')
@allowed([
  'secret'
  'certificate'
])
param partnerCenterClientCredentialType string = 'secret'

@description('Partner Center app client secret, stored in Key Vault; empty = set it later with az keyvault secret set.')
@secure()
param partnerCenterClientSecret string = ''

@description('Expiry of that client secret as Unix time (the Entra secret\'s end date); 0 = none.')
param partnerCenterClientSecretExpiresOn int = 0

@description('true = the app writes rotated refresh tokens back to Key Vault (Secrets Officer on that secret). The secret must already exist.')
param refreshTokenWriteBack bool = false

param partnerCenterBaseUrl string = 'https://api.partnercenter.microsoft.com'
param partnerCenterApplicationName string = 'mca-attest'

@description('Entra token endpoint; empty = https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.')
param partnerCenterTokenUrl string = ''

param partnerCenterScope string = 'https://api.partnercenter.microsoft.com/.default'
param agreementTypes string = 'MicrosoftCustomerAgreement'

@description('NCRONTAB schedule of the agreement-metadata refresh.')
param metadataRefreshSchedule string = '0 0 */6 * * *'

@description('NCRONTAB schedule of the reconciliation of the whole ledger against Partner Center (daily, 05:00 UTC).')
param reconcileSchedule string = '0 0 5 * * *'

@description('Customers the reconciliation reads from Partner Center at once; its reads share the throttling of attestation.')
@minValue(1)
@maxValue(64)
param reconcileConcurrency int = 8

param metadataCacheTtlSeconds int = 21600

@description('Pace Partner Center calls adaptively (AIMD on 429) and share throttling pauses between instances (docs/operations.md).')
param partnerCenterAdaptiveConcurrency bool = true

@description('Most Partner Center calls in flight per process; host.json maxConcurrentCalls (16) bounds the function app below it.')
@minValue(1)
param partnerCenterMaxConcurrency int = 32

@description('Throttling pauses one call waits out; a longer pause schedules the message for the end of the pause.')
@minValue(0)
param partnerCenterMaxPauseWaitSeconds int = 60
param attestInCallAttempts int = 3
param attestRetryBudget int = 8
param attestRetryBaseSeconds int = 30
param attestRetryMaxSeconds int = 3600

param queueName string = 'mca-events'

@description('Queue the app tells the CRM on: an enhanced attestation\'s acceptance link and every terminal state (docs/enhanced-attestation.md).')
param notificationsQueueName string = 'mca-notifications'

@description('Duplicate-detection window of both queues (ISO 8601, at most P7D); see modules/servicebus.bicep.')
param duplicateDetectionWindow string = 'P1D'

param metadataCacheContainerName string = 'agreement-metadata'

@description('Blob container of the daily reconciliation reports (HTML and JSON), in the cache storage account.')
param reconcileReportContainerName string = 'reconciliation-reports'

@description('Table of the attestation ledger, in the cache storage account.')
param ledgerTableName string = 'attestations'

@description('Key Vault secret holding the key of the contact hash in the ledger (the operator creates it; see docs/ledger.md).')
param ledgerContactHashKeySecretName string = 'ledger-contact-hash-key'

@description('true = read the customer\'s direct-signed status and MCA agreements before attesting.')
param attestPrecheck bool = true

@description('Contracts this deployment processes: legacy = contract v1 (POST agreements, app+user), enhanced = contract v2 (enhanced attestation, app-only). An event of a flow left out is dead-lettered.')
@minLength(1)
@allowed([
  'legacy'
  'enhanced'
])
param attestationFlows array = [
  'legacy'
  'enhanced'
]

@description('JSON file correcting the enhanced API\'s assumed details, deployed with the code; a relative path is read from the process\'s working directory (docs/enhanced-attestation.md). Empty = the built-in defaults.')
param enhancedApiConfigPath string = ''

@description('First wait before checking an enhanced attestation\'s status; the interval grows up to enhancedMaxCheckSeconds.')
@minValue(1)
param enhancedFirstCheckSeconds int = 900

@description('Longest wait between two status checks of an enhanced attestation; at least enhancedFirstCheckSeconds.')
@minValue(1)
param enhancedMaxCheckSeconds int = 21600

@description('Time the customer has to accept (30 days); after it the event is dead-lettered AcceptanceTimedOut.')
@minValue(1)
param enhancedAcceptanceDeadlineSeconds int = 2592000
param refreshTokenSecretName string = 'partner-center-refresh-token'
param clientSecretName string = 'partner-center-client-secret'

@description('Existing action group for alerts (resource id); empty = create one for alertEmailAddress.')
param actionGroupId string = ''

@description('E-mail for a new action group; used when actionGroupId is empty.')
param alertEmailAddress string = ''

@description('Also deploy the standalone worker on Azure Container Apps.')
param deployWorker bool = false

@description('Worker image, required when deployWorker is true.')
param workerImage string = ''

@description('Registry server the worker image comes from (pulled with the app identity); empty = public.')
param workerRegistryServer string = ''

@description('Worker start command; empty = the image\'s entrypoint.')
param workerCommand array = []

param tags object = {}

// ---------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var allTags = union(tags, {
  'azd-env-name': environmentName
  application: 'mca-attest'
})
var names = {
  identity: 'id-${resourceToken}'
  scalerIdentity: 'id-scaler-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  appInsights: 'appi-${resourceToken}'
  hostStorage: 'sthost${resourceToken}'
  cacheStorage: 'stcache${resourceToken}'
  serviceBus: 'sb-${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
  containerEnvironment: 'cae-${resourceToken}'
  worker: 'ca-worker-${resourceToken}'
}
var deploymentContainerName = 'app-package'
var consumptionPackageBlob = 'released-package.zip'
var isFlex = hostingPlan == 'FlexConsumption'

// ---------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    scalerName: deployWorker ? names.scalerIdentity : ''
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.appInsights
    location: location
    tags: allTags
  }
}

module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  params: {
    name: names.hostStorage
    location: location
    tags: allTags
    containerNames: [
      deploymentContainerName
    ]
  }
}

module cacheStorage 'modules/storage.bicep' = {
  name: 'cache-storage'
  params: {
    name: names.cacheStorage
    location: location
    tags: allTags
    containerNames: [
      metadataCacheContainerName
      reconcileReportContainerName
    ]
    tableNames: [
      ledgerTableName
    ]
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'service-bus'
  params: {
    namespaceName: names.serviceBus
    queueName: queueName
    notificationsQueueName: notificationsQueueName
    duplicateDetectionWindow: duplicateDetectionWindow
    location: location
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    clientSecretName: clientSecretName
    clientSecretValue: partnerCenterClientSecret
    clientSecretExpiresOn: partnerCenterClientSecretExpiresOn
  }
}

module roles 'modules/roles.bicep' = {
  name: 'role-assignments'
  params: {
    appPrincipalId: identity.outputs.principalId
    scalerPrincipalId: identity.outputs.scalerPrincipalId
    hostStorageName: hostStorage.outputs.name
    cacheStorageName: cacheStorage.outputs.name
    cacheContainerName: metadataCacheContainerName
    reportContainerName: reconcileReportContainerName
    ledgerTableName: ledgerTableName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    queueName: serviceBus.outputs.queueName
    notificationsQueueName: serviceBus.outputs.notificationsQueueName
    keyVaultName: keyVault.outputs.name
    refreshTokenSecretName: refreshTokenSecretName
    refreshTokenWriteBack: refreshTokenWriteBack
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: names.appInsights
}

// ---------------------------------------------------------------------------------------------------
// App settings. tests/unit/test_settings_agree.py reads the names between the "app-settings:begin" and
// "app-settings:end" markers and compares them with shared/settings.py and local.settings.json.example:
// keep one setting per line, as `Name: value`, and keep every app setting inside a marked block.
// Settings marked local_only in shared/settings.py (connection strings, local secrets, the file cache
// folder) are deliberately absent: in Azure the app uses its identity, Key Vault and the blob cache.
// ---------------------------------------------------------------------------------------------------

// app-settings:begin
var appSettings = {
  // Functions host and bindings: identity-based connections to the user-assigned identity.
  AzureWebJobsStorage__accountName: hostStorage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.outputs.clientId
  // azure-identity (Key Vault, Blob, scheduling retries) picks the user-assigned identity by this id.
  AZURE_CLIENT_ID: identity.outputs.clientId
  SERVICEBUS_QUEUE_NAME: serviceBus.outputs.queueName
  METADATA_REFRESH_SCHEDULE: metadataRefreshSchedule
  RECONCILE_SCHEDULE: reconcileSchedule
  // Partner Center.
  PARTNER_CENTER_BASE_URL: partnerCenterBaseUrl
  PARTNER_CENTER_APPLICATION_NAME: partnerCenterApplicationName
  PARTNER_CENTER_AUTH_MODE: partnerCenterAuthMode
  PARTNER_TENANT_ID: partnerTenantId
  PARTNER_CENTER_CLIENT_ID: partnerCenterClientId
  PARTNER_CENTER_TOKEN_URL: partnerCenterTokenUrl
  PARTNER_CENTER_SCOPE: partnerCenterScope
  KEY_VAULT_URL: keyVault.outputs.uri
  KEY_VAULT_REFRESH_TOKEN_SECRET_NAME: refreshTokenSecretName
  KEY_VAULT_CLIENT_SECRET_NAME: clientSecretName
  PARTNER_CENTER_CLIENT_CREDENTIAL_TYPE: partnerCenterClientCredentialType
  KEY_VAULT_WRITE_BACK_REFRESH_TOKEN: refreshTokenWriteBack ? 'true' : 'false'
  PARTNER_CENTER_ADAPTIVE_CONCURRENCY: partnerCenterAdaptiveConcurrency ? 'true' : 'false'
  PARTNER_CENTER_MAX_CONCURRENCY: string(partnerCenterMaxConcurrency)
  PARTNER_CENTER_MAX_PAUSE_WAIT_SECONDS: string(partnerCenterMaxPauseWaitSeconds)
  // Attestation policy.
  AGREEMENT_TYPES: agreementTypes
  ATTEST_IN_CALL_ATTEMPTS: string(attestInCallAttempts)
  ATTEST_RETRY_BUDGET: string(attestRetryBudget)
  ATTEST_RETRY_BASE_SECONDS: string(attestRetryBaseSeconds)
  ATTEST_RETRY_MAX_SECONDS: string(attestRetryMaxSeconds)
  // Enhanced attestation (contract v2): which flows run, the API's corrections, the CRM notifications queue,
  // and the status checks' timing.
  ATTESTATION_FLOWS: join(attestationFlows, ',')
  ENHANCED_API_CONFIG_PATH: enhancedApiConfigPath
  NOTIFICATIONS_QUEUE_NAME: serviceBus.outputs.notificationsQueueName
  ENHANCED_FIRST_CHECK_SECONDS: string(enhancedFirstCheckSeconds)
  ENHANCED_MAX_CHECK_SECONDS: string(enhancedMaxCheckSeconds)
  ENHANCED_ACCEPTANCE_DEADLINE_SECONDS: string(enhancedAcceptanceDeadlineSeconds)
  // Metadata cache.
  METADATA_CACHE_ACCOUNT_URL: cacheStorage.outputs.blobEndpoint
  METADATA_CACHE_CONTAINER: metadataCacheContainerName
  METADATA_CACHE_TTL_SECONDS: string(metadataCacheTtlSeconds)
  // Attestation ledger (identity-based), and the key of its contact hash as a Key Vault reference.
  LEDGER_ACCOUNT_URL: cacheStorage.outputs.tableEndpoint
  LEDGER_TABLE: ledgerTableName
  LEDGER_CONTACT_HASH_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${ledgerContactHashKeySecretName}/)'
  ATTEST_PRECHECK: attestPrecheck ? 'true' : 'false'
  // Daily reconciliation reports (identity-based), beside the metadata cache.
  RECONCILE_REPORT_ACCOUNT_URL: cacheStorage.outputs.blobEndpoint
  RECONCILE_REPORT_CONTAINER: reconcileReportContainerName
  RECONCILE_CONCURRENCY: string(reconcileConcurrency)
  // Telemetry: an ingestion endpoint and instrumentation key, not a credential to read data.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
}

// Linux Consumption only. Flex Consumption rejects these: it takes the runtime from functionAppConfig
// and the package from its deployment container. On Consumption the package is a blob that the
// platform reads with the user-assigned identity (no SAS, no shared key).
var consumptionOnlySettings = {
  FUNCTIONS_WORKER_RUNTIME: 'python'
  FUNCTIONS_EXTENSION_VERSION: '~4'
  WEBSITE_RUN_FROM_PACKAGE: '${hostStorage.outputs.blobEndpoint}${deploymentContainerName}/${consumptionPackageBlob}'
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identity.outputs.id
}
// app-settings:end

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: union(allTags, {
      'azd-service-name': 'attest'
    })
    hostingPlan: hostingPlan
    identityId: identity.outputs.id
    hostStorageName: hostStorage.outputs.name
    deploymentContainerName: deploymentContainerName
    appSettings: isFlex ? appSettings : union(appSettings, consumptionOnlySettings)
    maximumInstanceCount: maximumInstanceCount
  }
  // The host must be able to reach its storage, queue and secrets when it first starts.
  dependsOn: [
    roles
    monitoring
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: resourceToken
    location: location
    tags: allTags
    serviceBusNamespaceId: serviceBus.outputs.namespaceId
    queueName: serviceBus.outputs.queueName
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    actionGroupId: actionGroupId
    alertEmailAddress: alertEmailAddress
  }
}

module worker 'modules/worker.bicep' = if (deployWorker) {
  name: 'worker'
  params: {
    environmentName: names.containerEnvironment
    appName: names.worker
    location: location
    tags: allTags
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    identityId: identity.outputs.id
    scalerIdentityId: identity.outputs.scalerId
    image: workerImage
    registryServer: workerRegistryServer
    command: workerCommand
    settings: appSettings
    // App Service resolves @Microsoft.KeyVault(...) references; Container Apps do not: the worker reads the
    // same secret as a Key Vault secret reference of its own (with the app identity), under the same name.
    keyVaultSettings: {
      LEDGER_CONTACT_HASH_KEY: '${keyVault.outputs.uri}secrets/${ledgerContactHashKeySecretName}'
    }
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    queueName: serviceBus.outputs.queueName
  }
  dependsOn: [
    roles
    monitoring
  ]
}

// ---------------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment). Names and endpoints only: no keys, no secrets.
// ---------------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SERVICEBUS_QUEUE_NAME string = serviceBus.outputs.queueName
output NOTIFICATIONS_QUEUE_NAME string = serviceBus.outputs.notificationsQueueName
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output HOST_STORAGE_ACCOUNT_NAME string = hostStorage.outputs.name
output METADATA_CACHE_ACCOUNT_URL string = cacheStorage.outputs.blobEndpoint
output RECONCILE_REPORT_CONTAINER string = reconcileReportContainerName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.workspaceName
output WORKER_APP_NAME string = deployWorker ? names.worker : ''
