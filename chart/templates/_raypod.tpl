{{- /* Pieces shared by the Ray head and worker pod templates of the RayService. */ -}}

{{/* ray-vllm.rayEnv: environment of every Ray container: secrets by reference only, then extraEnv. */}}
{{- define "ray-vllm.rayEnv" -}}
{{- $env := include "ray-vllm.envNames" . | fromYaml -}}
{{- $refs := list -}}
{{- if .Values.hfToken.existingSecret -}}
{{- $refs = append $refs (list $env.hfToken .Values.hfToken.existingSecret .Values.hfToken.key) -}}
{{- end -}}
{{- if .Values.apiKeys.existingSecret -}}
{{- $refs = append $refs (list $env.apiKeys .Values.apiKeys.existingSecret .Values.apiKeys.key) -}}
{{- end -}}
{{- if and .Values.rag.enabled .Values.rag.milvus.tokenSecret.name -}}
{{- $refs = append $refs (list $env.milvusToken .Values.rag.milvus.tokenSecret.name .Values.rag.milvus.tokenSecret.key) -}}
{{- end -}}
{{- include "ray-vllm.secretEnv" $refs }}
- name: RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD
  value: {{ .Values.serveRuntime.userCodeInSeparateThread | ternary "1" "0" | quote }}
- name: RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP
  value: {{ .Values.serveRuntime.routerInSeparateLoop | ternary "1" "0" | quote }}
- name: RAY_SERVE_USE_GRPC_BY_DEFAULT
  value: {{ .Values.serveRuntime.grpcHandles | ternary "1" "0" | quote }}
- name: RAY_SERVE_AUTOSCALING_METRIC_RECORD_INTERVAL_FACTOR
  value: {{ .Values.serveRuntime.autoscalingRecordIntervalFactor | toString | quote }}
{{- if .Values.serveRuntime.openAiProxyErrors }}
- name: RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH
  value: serve_app.proxy_errors.middlewares
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ray-vllm.rayContainer: image, pull policy, env and security context of a Ray container. */}}
{{- define "ray-vllm.rayContainer" -}}
image: {{ include "ray-vllm.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- with include "ray-vllm.rayEnv" . }}
env:
  {{- . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}
