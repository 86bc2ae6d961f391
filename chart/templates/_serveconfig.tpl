{{- /*
values → serveConfigV2 (docs/contract.md). Settings the app reads once go to `args`, routing goes to the
gateway's `user_config` (applied in place by `reconfigure`), and replica/placement settings go to Ray's own
`deployments[]` schema. Field names inside `args` and `user_config` stay camelCase like the values.
*/ -}}

{{/* ray-vllm.envNames: names of the environment variables the app reads secrets from (set only when a Secret is given). */}}
{{- define "ray-vllm.envNames" -}}
hfToken: HF_TOKEN
apiKeys: RAY_VLLM_API_KEYS
milvusToken: MILVUS_TOKEN
{{- end -}}

{{/* ray-vllm.deploymentOptions: Ray Serve DeploymentSchema fields from a `deployment` values block; pass (list "Name" $block). */}}
{{- define "ray-vllm.deploymentOptions" -}}
{{- $name := index . 0 -}}
{{- $d := index . 1 -}}
{{- $opts := dict "name" $name
      "max_ongoing_requests" $d.maxOngoingRequests
      "max_queued_requests" $d.maxQueuedRequests
      "ray_actor_options" (dict "num_cpus" $d.numCpus)
      "health_check_period_s" $d.healthCheckPeriodS
      "health_check_timeout_s" $d.healthCheckTimeoutS
      "graceful_shutdown_timeout_s" $d.gracefulShutdownTimeoutS -}}
{{- $a := $d.autoscaling -}}
{{- if $a.enabled -}}
{{- $cfg := dict "min_replicas" $a.minReplicas "max_replicas" $a.maxReplicas
      "target_ongoing_requests" $a.targetOngoingRequests
      "upscale_delay_s" $a.upscaleDelayS "downscale_delay_s" $a.downscaleDelayS -}}
{{- /* Optional knobs are left out when null so Ray's own defaults apply. */ -}}
{{- range $key, $field := dict "initial_replicas" "initialReplicas" "upscaling_factor" "upscalingFactor" "downscaling_factor" "downscalingFactor" -}}
{{- if not (kindIs "invalid" (index $a $field)) -}}
{{- $_ := set $cfg $key (index $a $field) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $opts "autoscaling_config" $cfg -}}
{{- else -}}
{{- $_ := set $opts "num_replicas" $d.numReplicas -}}
{{- end -}}
{{- toYaml $opts -}}
{{- end -}}

{{/* ray-vllm.llmDeploymentName: Ray Serve LLM's deployment name for a model (`LLMServer:` + name with `/`→`--`, `.`→`_`). */}}
{{- define "ray-vllm.llmDeploymentName" -}}
{{- printf "LLMServer:%s" (. | replace "/" "--" | replace "." "_") -}}
{{- end -}}

{{/* ray-vllm.modelDeployment: one model's deployment: options plus placement bundles (Ray Serve LLM's layout: one bundle per device, the replica actor's CPUs in the first); pass (list $ model). */}}
{{- define "ray-vllm.modelDeployment" -}}
{{- $m := index . 1 -}}
{{- $opts := include "ray-vllm.deploymentOptions" (list (include "ray-vllm.llmDeploymentName" $m.name) $m.deployment) | fromYaml -}}
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
{{- $_ := set $opts "placement_group_bundles" $bundles -}}
{{- /* STRICT_PACK keeps a tensor-parallel replica on one pod, which the preflight sized to fit. */ -}}
{{- $_ = set $opts "placement_group_strategy" "STRICT_PACK" -}}
{{- if $m.workerGroup -}}
{{- $_ = set $opts "placement_group_bundle_label_selector" $selectors -}}
{{- end -}}
{{- toYaml $opts -}}
{{- end -}}

{{/* ray-vllm.modelArgs: one model as the app reads it (args.models[]), without chart-only keys. */}}
{{- define "ray-vllm.modelArgs" -}}
{{- $e := .engine -}}
{{- toYaml (dict
      "name" .name
      "source" .source
      "tokenizerSource" .tokenizerSource
      "tensorParallelSize" .tensorParallelSize
      "accelerator" .accelerator
      "engine" (dict
          "maxModelLen" $e.maxModelLen
          "gpuMemoryUtilization" $e.gpuMemoryUtilization
          "dtype" $e.dtype
          "enforceEager" $e.enforceEager
          "maxNumSeqs" $e.maxNumSeqs
          "extraArgs" ($e.extraArgs | default dict))
      "lora" .lora) -}}
{{- end -}}

{{/* ray-vllm.serveConfig: the whole serveConfigV2 document. */}}
{{- define "ray-vllm.serveConfig" -}}
{{- $env := include "ray-vllm.envNames" . | fromYaml -}}
{{- $models := include "ray-vllm.models" . | fromYamlArray -}}
{{- $gateway := include "ray-vllm.deploymentOptions" (list "OpenAiGateway" .Values.gateway.deployment) | fromYaml -}}
{{- $_ := set $gateway "user_config" (dict
      "aliases" .Values.routing.aliases
      "sizeTiers" .Values.routing.sizeTiers
      "canaries" .Values.routing.canaries) -}}
{{- $deployments := list $gateway -}}
{{- $argModels := list -}}
{{- range $m := $models -}}
{{- $_ := set $m "tensorParallelSize" ($m.tensorParallelSize | default 1) -}}
{{- $deployments = append $deployments (include "ray-vllm.modelDeployment" (list $ $m) | fromYaml) -}}
{{- $argModels = append $argModels (include "ray-vllm.modelArgs" $m | fromYaml) -}}
{{- end -}}
{{- $llmArgs := dict
      "models" $argModels
      "hfTokenEnv" $env.hfToken
      "apiKeysEnv" (ternary $env.apiKeys "" (ne .Values.apiKeys.existingSecret ""))
      "maxBodyBytes" .Values.gateway.maxBodyBytes -}}
{{- $apps := list (dict
      "name" "llm"
      "route_prefix" "/"
      "import_path" "serve_app.apps:build_gateway_app"
      "args" $llmArgs
      "deployments" $deployments) -}}
{{- if .Values.rag.enabled -}}
{{- $rag := .Values.rag -}}
{{- $ragArgs := dict
      "embeddingModel" $rag.embeddingModel
      "milvus" (dict "uri" $rag.milvus.uri "collection" $rag.milvus.collection
                     "tokenEnv" (ternary $env.milvusToken "" (ne $rag.milvus.tokenSecret.name "")))
      "llm" (dict "app" "llm" "model" $rag.model)
      "topK" $rag.topK
      "scoreThreshold" $rag.scoreThreshold
      "promptTemplate" $rag.promptTemplate -}}
{{- $ragDeployments := list -}}
{{- range $name := list "RagIngress" "Embedder" -}}
{{- $ragDeployments = append $ragDeployments (include "ray-vllm.deploymentOptions" (list $name (index $rag.deployments $name)) | fromYaml) -}}
{{- end -}}
{{- $apps = append $apps (dict
      "name" "rag"
      "route_prefix" $rag.routePrefix
      "import_path" "serve_app.apps:build_rag_app"
      "args" $ragArgs
      "deployments" $ragDeployments) -}}
{{- end -}}
{{- toYaml (dict "applications" $apps) -}}
{{- end -}}
