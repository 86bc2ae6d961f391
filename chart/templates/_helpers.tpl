{{/* ray-vllm.name: the chart name, or nameOverride, as a DNS label. */}}
{{- define "ray-vllm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ray-vllm.fullname: `<release>-<name>` (or fullnameOverride), truncated to 63 characters. */}}
{{- define "ray-vllm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ray-vllm.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.componentName: fullname plus a suffix, kept within 63 characters; pass (list $ "suffix"). */}}
{{- define "ray-vllm.componentName" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "ray-vllm.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{/* ray-vllm.rayServiceName: the RayService name (KubeRay allows 47 characters); its Services are `<this>-head-svc`, `<this>-serve-svc`. */}}
{{- define "ray-vllm.rayServiceName" -}}
{{- include "ray-vllm.fullname" . | trunc 47 | trimSuffix "-" -}}
{{- end -}}

{{/* ray-vllm.llmDeploymentName: Ray Serve LLM's deployment name for a model name (`LLMServer:` + name with `/`→`--`, `.`→`_`; serve_app.config.llm_deployment_name). */}}
{{- define "ray-vllm.llmDeploymentName" -}}
{{- printf "LLMServer:%s" (. | replace "/" "--" | replace "." "_") -}}
{{- end -}}

{{/* ray-vllm.chart: chart name and version for the helm.sh/chart label. */}}
{{- define "ray-vllm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ray-vllm.selectorLabels: the minimal, immutable labels selectors match on. */}}
{{- define "ray-vllm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ray-vllm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* ray-vllm.labels: standard app.kubernetes.io labels plus commonLabels, for every object's metadata. */}}
{{- define "ray-vllm.labels" -}}
helm.sh/chart: {{ include "ray-vllm.chart" . }}
{{ include "ray-vllm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ray-vllm
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ray-vllm.componentLabels: labels plus app.kubernetes.io/component; pass (list $ "component"). */}}
{{- define "ray-vllm.componentLabels" -}}
{{ include "ray-vllm.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* ray-vllm.componentSelectorLabels: selector labels plus the component; pass (list $ "component"). */}}
{{- define "ray-vllm.componentSelectorLabels" -}}
{{ include "ray-vllm.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* ray-vllm.serviceAccountName: the ServiceAccount the Ray pods run as. */}}
{{- define "ray-vllm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ray-vllm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.image: `repository:tag` or `repository@digest`; the tag defaults to the chart's appVersion. */}}
{{- define "ray-vllm.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.nodePoolName: the cluster-wide NodePool name of a pool; pass (list $ "pool"). */}}
{{- define "ray-vllm.nodePoolName" -}}
{{- include "ray-vllm.componentName" . -}}
{{- end -}}

{{/* ray-vllm.ec2NodeClassName: the EC2NodeClass the NodePools use (the chart's own or an existing one). */}}
{{- define "ray-vllm.ec2NodeClassName" -}}
{{- if .Values.karpenter.ec2NodeClass.create -}}
{{- include "ray-vllm.fullname" . -}}
{{- else -}}
{{- .Values.karpenter.ec2NodeClass.name -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.resolve: list items merged over their defaults, set as `models`, `groups`, `pools` into the dict passed as (dict "root" $); a dict, not YAML, so no template re-parses it. */}}
{{- define "ray-vllm.resolve" -}}
{{- $v := .root.Values -}}
{{- $models := list -}}
{{- range $v.models -}}
{{- $m := deepCopy . -}}
{{- $_ := set $m "tensorParallelSize" (.tensorParallelSize | default 1) -}}
{{- $_ = set $m "workerGroup" (.workerGroup | default "") -}}
{{- $_ = set $m "engine" (mergeOverwrite (deepCopy $v.modelDefaults.engine) (deepCopy (.engine | default dict))) -}}
{{- $_ = set $m "deployment" (mergeOverwrite (deepCopy $v.modelDefaults.deployment) (deepCopy (.deployment | default dict))) -}}
{{- /* Not `default`: 0 (no stream batching) is a value, only null or absent takes the default. */ -}}
{{- $_ = set $m "streamIntervalMs" (ternary $v.modelDefaults.streamIntervalMs .streamIntervalMs (kindIs "invalid" .streamIntervalMs)) -}}
{{- $models = append $models $m -}}
{{- end -}}
{{- $groups := list -}}
{{- range $v.workerGroups -}}
{{- $groups = append $groups (mergeOverwrite (deepCopy $v.workerGroupDefaults) (deepCopy .)) -}}
{{- end -}}
{{- $pools := list -}}
{{- range $v.karpenter.nodePools -}}
{{- $pools = append $pools (mergeOverwrite (deepCopy $v.karpenter.nodePoolDefaults) (deepCopy .)) -}}
{{- end -}}
{{- $_ := merge . (dict "models" $models "groups" $groups "pools" $pools) -}}
{{- end -}}

{{/* ray-vllm.podSecurity: pod-level security settings shared by every pod the chart defines. */}}
{{- define "ray-vllm.podSecurity" -}}
serviceAccountName: {{ include "ray-vllm.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* ray-vllm.rayPodSelector: a label selector matching this release's Ray head and worker pods only. */}}
{{- define "ray-vllm.rayPodSelector" -}}
matchLabels:
  {{- include "ray-vllm.selectorLabels" . | nindent 2 }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: [ray-head, ray-worker]
{{- end -}}

{{/* ray-vllm.metricsPorts: name: port of every metrics endpoint Ray opens (the head opens all three, workers `metrics` only). */}}
{{- define "ray-vllm.metricsPorts" -}}
# Ray core, Serve and vLLM (KubeRay's --metrics-export-port).
metrics: 8080
# Autoscaler (Ray's AUTOSCALER_METRIC_PORT): nodes active, pending, failed.
as-metrics: 44217
# Dashboard (Ray's DASHBOARD_METRIC_PORT): the dashboard's own API latency.
dash-metrics: 44227
{{- end -}}

{{/* ray-vllm.metricsRelabelings: copy the Ray pod labels the dashboard and alerts filter on into every series. */}}
{{- define "ray-vllm.metricsRelabelings" -}}
- sourceLabels: [__meta_kubernetes_pod_label_ray_io_node_type]
  targetLabel: ray_io_node_type
- sourceLabels: [__meta_kubernetes_pod_label_ray_io_cluster]
  targetLabel: ray_io_cluster
{{- end -}}

{{/* ray-vllm.secretEnv: EnvVar list items read from Secrets, never from values; pass a list of (list "NAME" "secret" "key"). */}}
{{- define "ray-vllm.secretEnv" -}}
{{- range . }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: {{ index . 2 }}
{{- end }}
{{- end -}}

{{/* ray-vllm.apiBackend: `service` and `port` of the OpenAI endpoint: Serve's Service, or standalone the one model's vLLM Service (the preflight allows one model behind an Ingress). */}}
{{- define "ray-vllm.apiBackend" -}}
{{- if eq .Values.mode "standalone" -}}
service: {{ include "ray-vllm.standaloneName" (list . (index .Values.models 0).name) }}
port: {{ .Values.standalone.port }}
{{- else -}}
service: {{ include "ray-vllm.rayServiceName" . }}-serve-svc
port: 8000
{{- end -}}
{{- end -}}
