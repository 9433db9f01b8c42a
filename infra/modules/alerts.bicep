// Alerts: dead-lettered events, failed function invocations, Partner Center throttling, authentication
// failures, and missing customers in the daily reconciliation. Log alerts read the structured fields the app
// logs into traces.customDimensions (event, outcome, reason, status, pc_code, missing); docs/deployment.md
// lists them.

param namePrefix string
param location string
param tags object = {}

param serviceBusNamespaceId string
param queueName string
param applicationInsightsId string

@description('Existing action group to notify; empty = create one from alertEmailAddress (or notify nobody).')
param actionGroupId string = ''

@description('E-mail address for a new action group, used only when actionGroupId is empty.')
param alertEmailAddress string = ''

@description('429 responses from Partner Center in 15 minutes before the throttling alert fires. The app backs off and retries, so a few are normal.')
@minValue(1)
param throttlingThreshold int = 10

var createActionGroup = empty(actionGroupId) && !empty(alertEmailAddress)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (createActionGroup) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mcaattest'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = !empty(actionGroupId) ? [
  actionGroupId
] : (createActionGroup ? [
  actionGroup.id
] : [])

// Any event in the dead-letter queue needs an operator: the app only dead-letters what it cannot fix
// (InvalidEvent, UnknownCustomer, NotAuthorized, ..., RetriesExhausted). The alert stays active until
// the dead-letter queue is drained or replayed.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Events are waiting in the dead-letter queue of ${queueName}.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                queueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

// An invocation that fails is one the app did not settle itself: an unexpected exception.
resource functionFailureAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-function-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'mca-attest: function invocations failed'
    description: 'At least one function invocation failed (unhandled exception) in the last 15 minutes.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false | project timestamp, operation_Name, resultCode, cloud_RoleInstance'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// Sustained throttling: the app honours Retry-After, so this means the load is above the partner's
// Partner Center quota (lower maximumInstanceCount or the host's concurrency).
resource throttlingAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-partner-center-throttling'
  location: location
  tags: tags
  properties: {
    displayName: 'mca-attest: Partner Center throttling'
    description: 'Partner Center answered 429 more than ${throttlingThreshold} times in 15 minutes.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.event) == "partner_center.response" | where toint(customDimensions.status) == 429'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: throttlingThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// Authentication failures are operator problems, never retried away: a 401 from Partner Center, an
// event dead-lettered as ConsentRequired (refresh token refused: invalid_grant, AADSTS700082) or
// AuthenticationFailed (401 with a fresh token: MFA claim, wrong app), or a rotated refresh token that
// could not be written back to Key Vault.
resource authFailureAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-partner-center-auth'
  location: location
  tags: tags
  properties: {
    displayName: 'mca-attest: Partner Center authentication failures'
    description: 'Partner Center or the Entra token endpoint rejected the app\'s credentials, or a rotated refresh token was not saved.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'traces | extend ev = tostring(customDimensions.event), st = toint(customDimensions.status), rs = tostring(customDimensions.reason) | where (ev == "partner_center.response" and st == 401) or (ev == "attestation.outcome" and rs in ("ConsentRequired", "AuthenticationFailed")) or ev == "auth.refresh_token_write_failed" | project timestamp, ev, st, rs, pc_code = tostring(customDimensions.pc_code)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// The daily reconciliation (functions/reconcile_daily.py) logs one "reconcile.completed" line with a count per
// standing. A missing customer (CRM or ledger expects an acceptance, neither the ledger nor Partner Center holds
// one) means orders for that customer will fail with 403 13605: an operator attests it or chases the CRM. The
// reports are in the reconciliation-reports container (the line's "reports" field says which blobs).
resource reconcileMissingAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-reconcile-missing'
  location: location
  tags: tags
  properties: {
    displayName: 'mca-attest: reconciliation found customers without an accepted MCA'
    description: 'The daily reconciliation counted missing > 0: customers with no acceptance in the ledger or in Partner Center. See docs/ledger.md.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    // The job runs daily: evaluated hourly over two hours, each run's line is seen (twice) despite ingestion
    // delay, and the stateful alert notifies once.
    evaluationFrequency: 'PT1H'
    windowSize: 'PT2H'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.event) == "reconcile.completed" | extend missing = toint(customDimensions.missing) | project timestamp, missing, needs_action = toint(customDimensions.needs_action), reports = tostring(customDimensions.reports)'
          metricMeasureColumn: 'missing'
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}
