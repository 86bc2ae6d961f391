{{- /*
values → serveConfigV2 (docs/contract.md). Settings the app reads once go to `args`, routing goes to the
gateway's `user_config` (applied in place by `reconfigure`), and replica/placement settings go to Ray's own
`deployments[]` schema. Field names inside `args` and `user_config` stay camelCase like the values.
Helpers fill the dict they are given (`out`) instead of returning YAML: one toYaml at the end, no re-parsing.
*/ -}}

{{/* ray-vllm.envNames: names of the environment variables the app reads secrets from (set only when a Secret is given). */}}
{{- define "ray-vllm.envNames" -}}
hfToken: HF_TOKEN
apiKeys: RAY_VLLM_API_KEYS
milvusToken: MILVUS_TOKEN
{{- end -}}

{{/* ray-vllm.deploymentOptions: Ray Serve DeploymentSchema fields of a `deployment` values block; pass (dict "out" $d "name" "Name" "block" $block), and "fixedByAutoscaling" true for an LLMServer. */}}
{{- define "ray-vllm.deploymentOptions" -}}
{{- $d := .block -}}
{{- $_ := merge .out (dict "name" .name
      "max_ongoing_requests" $d.maxOngoingRequests
      "max_queued_requests" $d.maxQueuedRequests
      "ray_actor_options" (dict "num_cpus" $d.numCpus)
      "health_check_period_s" $d.healthCheckPeriodS
      "health_check_timeout_s" $d.healthCheckTimeoutS
      "graceful_shutdown_timeout_s" $d.gracefulShutdownTimeoutS) -}}
{{- $a := $d.autoscaling -}}
{{- if $a.enabled -}}
{{- $cfg := dict "min_replicas" $a.minReplicas "max_replicas" $a.maxReplicas
      "target_ongoing_requests" $a.targetOngoingRequests
      "upscale_delay_s" $a.upscaleDelayS "downscale_delay_s" $a.downscaleDelayS -}}
{{- /* Optional knobs are left out when null so Ray's own defaults apply. */ -}}
{{- range $key, $field := dict "initial_replicas" "initialReplicas" "look_back_period_s" "lookBackPeriodS" "upscaling_factor" "upscalingFactor" "downscaling_factor" "downscalingFactor" -}}
{{- if not (kindIs "invalid" (index $a $field)) -}}
{{- $_ := set $cfg $key (index $a $field) -}}
{{- end -}}
{{- end -}}
{{- $_ := set .out "autoscaling_config" $cfg -}}
{{- else if .fixedByAutoscaling -}}
{{- /* Ray Serve LLM gives LLMServer an autoscaling_config in code, which wins over num_replicas: a fixed count is min = max. */ -}}
{{- $_ := set .out "autoscaling_config" (dict "min_replicas" $d.numReplicas "max_replicas" $d.numReplicas) -}}
{{- else -}}
{{- $_ := set .out "num_replicas" $d.numReplicas -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.modelDeployment: one model's deployment, with Ray Serve LLM's bundle layout (one per device, the replica actor's CPUs in the first); pass (dict "out" $d "model" $m). */}}
{{- define "ray-vllm.modelDeployment" -}}
{{- $m := .model -}}
{{- include "ray-vllm.deploymentOptions" (dict "out" .out "name" (include "ray-vllm.llmDeploymentName" $m.name) "block" $m.deployment "fixedByAutoscaling" true) -}}
{{- $bundles := list -}}
{{- $selectors := list -}}
{{- range $i := until (int $m.tensorParallelSize) -}}
{{- $bundle := dict -}}
{{- if eq $m.accelerator "cpu" -}}
{{- $_ := set $bundle "CPU" 1 -}}
{{- else -}}
{{- $_ := set $bundle "GPU" 1 -}}
{{- $_ := set $bundle (printf "accelerator_type:%s" $m.accelerator) 0.001 -}}
{{- end -}}
{{- if eq $i 0 -}}
{{- $_ := set $bundle "CPU" (addf ($bundle.CPU | default 0) $m.deployment.numCpus) -}}
{{- end -}}
{{- $bundles = append $bundles $bundle -}}
{{- $selectors = append $selectors (dict "ray.io/node-group" $m.workerGroup) -}}
{{- end -}}
{{- $_ := set .out "placement_group_bundles" $bundles -}}
{{- /* STRICT_PACK keeps a tensor-parallel replica on one pod, which the preflight sized to fit. */ -}}
{{- $_ = set .out "placement_group_strategy" "STRICT_PACK" -}}
{{- if $m.workerGroup -}}
{{- $_ = set .out "placement_group_bundle_label_selector" $selectors -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.serveConfig: the whole serveConfigV2 document; pass the dict ray-vllm.resolve filled. */}}
{{- define "ray-vllm.serveConfig" -}}
{{- $v := .root.Values -}}
{{- $env := include "ray-vllm.envNames" . | fromYaml -}}
{{- /* A routing map or list set to null (Helm deletes the key) is empty, as the app's defaults are. */ -}}
{{- $gateway := dict "user_config" (dict
      "aliases" ($v.routing.aliases | default dict)
      "sizeTiers" ($v.routing.sizeTiers | default dict)
      "canaries" ($v.routing.canaries | default list)) -}}
{{- include "ray-vllm.deploymentOptions" (dict "out" $gateway "name" "OpenAiGateway" "block" $v.gateway.deployment) -}}
{{- $deployments := list $gateway -}}
{{- $argModels := list -}}
{{- range $m := .models -}}
{{- $deployment := dict -}}
{{- include "ray-vllm.modelDeployment" (dict "out" $deployment "model" $m) -}}
{{- $deployments = append $deployments $deployment -}}
{{- /* args.models[]: the model as the app reads it, without chart-only keys (workerGroup, deployment). */ -}}
{{- $e := $m.engine -}}
{{- $argModels = append $argModels (dict
      "name" $m.name
      "source" $m.source
      "tokenizerSource" $m.tokenizerSource
      "tensorParallelSize" $m.tensorParallelSize
      "accelerator" $m.accelerator
      "engine" (dict
          "maxModelLen" $e.maxModelLen
          "gpuMemoryUtilization" $e.gpuMemoryUtilization
          "dtype" $e.dtype
          "enforceEager" $e.enforceEager
          "maxNumSeqs" $e.maxNumSeqs
          "schedulingPolicy" $e.schedulingPolicy
          "toolCallParser" $e.toolCallParser
          "enableAutoToolChoice" $e.enableAutoToolChoice
          "reasoningParser" $e.reasoningParser
          "chatTemplate" $e.chatTemplate
          "extraArgs" ($e.extraArgs | default dict))
      "lora" $m.lora
      "streamIntervalMs" $m.streamIntervalMs) -}}
{{- end -}}
{{- $gatewayArgs := dict
      "models" $argModels
      "hfTokenEnv" $env.hfToken
      "apiKeysEnv" (ternary $env.apiKeys "" (ne $v.apiKeys.existingSecret ""))
      "maxBodyBytes" $v.gateway.maxBodyBytes
      "streamIdleTimeoutS" $v.gateway.streamIdleTimeoutS
      "responseTimeoutS" $v.gateway.responseTimeoutS -}}
{{- if $v.batch.enabled -}}
{{- $b := $v.batch -}}
{{- $_ := set $gatewayArgs "batch" (dict
      "storage" $b.storage
      "maxFileBytes" $b.maxFileBytes
      "maxLines" $b.maxLines
      "maxInProgress" $b.maxInProgress
      "concurrency" $b.concurrency
      "retryAttempts" $b.retryAttempts
      "retryWaitS" $b.retryWaitS
      "modelStartWaitS" $b.modelStartWaitS
      "priority" $b.priority
      "yieldQuietS" $b.yieldQuietS
      "yieldMaxS" $b.yieldMaxS) -}}
{{- /* One replica: it owns the batch records (serve_app/batch_service.py). */ -}}
{{- $deployments = append $deployments (dict "name" "Batcher" "num_replicas" 1 "ray_actor_options" (dict "num_cpus" $b.numCpus)) -}}
{{- end -}}
{{- $apps := list (dict
      "name" "llm"
      "route_prefix" "/"
      "import_path" "serve_app.apps:build_gateway_app"
      "args" $gatewayArgs
      "deployments" $deployments) -}}
{{- if $v.rag.enabled -}}
{{- $rag := $v.rag -}}
{{- $ragDeployments := list -}}
{{- range $name := list "RagIngress" "Embedder" -}}
{{- $deployment := dict -}}
{{- include "ray-vllm.deploymentOptions" (dict "out" $deployment "name" $name "block" (index $rag.deployments $name)) -}}
{{- $ragDeployments = append $ragDeployments $deployment -}}
{{- end -}}
{{- $apps = append $apps (dict
      "name" "rag"
      "route_prefix" $rag.routePrefix
      "import_path" "serve_app.apps:build_rag_app"
      "args" (dict
          "embeddingModel" $rag.embeddingModel
          "milvus" (dict "uri" $rag.milvus.uri "collection" $rag.milvus.collection
                         "tokenEnv" (ternary $env.milvusToken "" (ne $rag.milvus.tokenSecret.name "")))
          "llm" (dict "app" "llm" "model" $rag.model)
          "topK" $rag.topK
          "scoreThreshold" $rag.scoreThreshold
          "promptTemplate" $rag.promptTemplate
          "apiKeysEnv" (ternary $env.apiKeys "" (ne $v.apiKeys.existingSecret "")))
      "deployments" $ragDeployments) -}}
{{- end -}}
{{- if $v.agent.enabled -}}
{{- $a := $v.agent -}}
{{- $agentDeployment := dict -}}
{{- include "ray-vllm.deploymentOptions" (dict "out" $agentDeployment "name" "AgentIngress" "block" $a.deployment) -}}
{{- $apps = append $apps (dict
      "name" "agent"
      "route_prefix" $a.routePrefix
      "import_path" "serve_app.apps:build_agent_app"
      "args" (dict
          "llm" (dict "app" "llm" "model" $a.model)
          "ragApp" (ternary "rag" "" (and $a.retrieval $v.rag.enabled))
          "topK" $a.topK
          "limits" $a.limits
          "http" (dict "allowedHosts" ($a.http.allowedHosts | default list) "maxBytes" $a.http.maxBytes)
          "systemPrompt" $a.systemPrompt
          "apiKeysEnv" (ternary $env.apiKeys "" (ne $v.apiKeys.existingSecret "")))
      "deployments" (list $agentDeployment)) -}}
{{- end -}}
{{- toYaml (dict "applications" $apps) -}}
{{- end -}}
