// Optional: the standalone worker on Azure Container Apps, scaled by KEDA on the queue length.
// Same identity and the same settings as the Function App; the scale rule uses its own identity
// (see roles.bicep for why).

param environmentName string
param appName string
param location string
param tags object = {}

param logAnalyticsWorkspaceId string

@description('Resource id of the app identity (the worker code runs as it).')
param identityId string

@description('Resource id of the identity the KEDA scale rule authenticates with.')
param scalerIdentityId string

@description('Container image of the worker, e.g. myregistry.azurecr.io/mca-attest-worker:1.0.0.')
param image string

@description('Registry server to pull from with the app identity (it needs AcrPull); empty = public image.')
param registryServer string = ''

@description('Command that starts the worker; empty = the image\'s entrypoint.')
param command array = []

@description('Settings, name -> value; the same object the Function App gets.')
param settings object

@description('Settings whose value is a Key Vault secret, name -> secret URL (no version): they replace the same name in settings, read by Container Apps with the app identity.')
param keyVaultSettings object = {}

param serviceBusNamespaceName string
param queueName string

@minValue(1)
@maxValue(30)
param maxReplicas int = 3

@description('Active messages per replica before KEDA adds one.')
param messagesPerReplica int = 20

resource managedEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    // Logs go through Azure Monitor diagnostic settings below, so no workspace key is handed over.
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
  }
}

resource environmentDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: managedEnvironment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource worker 'Microsoft.App/containerApps@2025-01-01' = {
  name: appName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
      '${scalerIdentityId}': {}
    }
  }
  properties: {
    environmentId: managedEnvironment.id
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: [for setting in items(keyVaultSettings): {
        name: toLower(replace(setting.key, '_', '-'))
        keyVaultUrl: setting.value
        identity: identityId
      }]
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'worker'
          image: image
          command: command
          env: [for setting in items(settings): contains(keyVaultSettings, setting.key) ? {
            name: setting.key
            secretRef: toLower(replace(setting.key, '_', '-'))
          } : {
            name: setting.key
            value: string(setting.value)
          }]
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
      scale: {
        minReplicas: 0
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'servicebus-queue-length'
            custom: {
              type: 'azure-servicebus'
              identity: scalerIdentityId
              metadata: {
                namespace: serviceBusNamespaceName
                queueName: queueName
                messageCount: string(messagesPerReplica)
              }
            }
          }
        ]
      }
    }
  }
}

output name string = worker.name
