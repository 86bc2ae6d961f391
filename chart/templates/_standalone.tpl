{{- /* Pieces of mode: standalone, where each model is a Deployment of vLLM's own OpenAI server. */ -}}

{{/* ray-vllm.modelSlug: a model name as a DNS label piece (lowercase letters, digits and `-`); pass the name. */}}
{{- define "ray-vllm.modelSlug" -}}
{{- regexReplaceAll "[^a-z0-9]+" (lower .) "-" | trimAll "-" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ray-vllm.standaloneName: name of a model's Deployment, Service, PDB and autoscaler, `<fullname>-vllm-<slug>`; pass (list $ "model name"). */}}
{{- define "ray-vllm.standaloneName" -}}
{{- include "ray-vllm.componentName" (list (index . 0) (printf "vllm-%s" (include "ray-vllm.modelSlug" (index . 1)))) -}}
{{- end -}}

{{/* ray-vllm.standaloneSelectorLabels: the labels selecting one model's vLLM pods; pass (list $ "model name"). */}}
{{- define "ray-vllm.standaloneSelectorLabels" -}}
{{ include "ray-vllm.componentSelectorLabels" (list (index . 0) "vllm-server") }}
ray-vllm/model: {{ include "ray-vllm.modelSlug" (index . 1) }}
{{- end -}}

{{/* ray-vllm.standaloneLabels: standard labels of a model's objects plus its model label; pass (list $ "model name"). */}}
{{- define "ray-vllm.standaloneLabels" -}}
{{ include "ray-vllm.componentLabels" (list (index . 0) "vllm-server") }}
ray-vllm/model: {{ include "ray-vllm.modelSlug" (index . 1) }}
{{- end -}}

{{/* ray-vllm.vllmFlag: appends one engine setting to .out.args as vLLM's command-line flag(s); pass (dict "out" $d "name" "snake_name" "value" $v). */}}
{{- define "ray-vllm.vllmFlag" -}}
{{- $flag := printf "--%s" (.name | replace "_" "-") -}}
{{- $v := .value -}}
{{- $args := list -}}
{{- if kindIs "invalid" $v -}}
{{- /* null: not set, vLLM's default applies (as the kwarg left out under Ray Serve). */ -}}
{{- else if kindIs "bool" $v -}}
{{- $args = list (ternary $flag (printf "--no-%s" (.name | replace "_" "-")) $v) -}}
{{- else if kindIs "string" $v -}}
{{- $args = list $flag $v -}}
{{- else if kindIs "slice" $v -}}
{{- $args = list $flag -}}
{{- range $v -}}
{{- $args = append $args (kindIs "string" . | ternary . (toJson .)) -}}
{{- end -}}
{{- else -}}
{{- /* Numbers and maps as JSON: no float notation for large integers, and vLLM parses dict flags as JSON. */ -}}
{{- $args = list $flag (toJson $v) -}}
{{- end -}}
{{- $_ := set .out "args" (concat .out.args $args) -}}
{{- end -}}

{{/* ray-vllm.vllmServerArgs: the arguments of `python -m vllm.entrypoints.openai.api_server` for one model, as a YAML list; the same engine settings serve_app passes to Ray Serve LLM (tested against it); pass (dict "root" $ "model" $m). */}}
{{- define "ray-vllm.vllmServerArgs" -}}
{{- $m := .model -}}
{{- $s := .root.Values.standalone -}}
{{- $e := $m.engine -}}
{{- $out := dict "args" (list "--model" $m.source "--served-model-name" $m.name "--host" $s.host "--port" (toString $s.port)) -}}
{{- if not $s.accessLog -}}
{{- $_ := set $out "args" (append $out.args "--disable-uvicorn-access-log") -}}
{{- end -}}
{{- include "ray-vllm.vllmFlag" (dict "out" $out "name" "tokenizer" "value" $m.tokenizerSource) -}}
{{- include "ray-vllm.vllmFlag" (dict "out" $out "name" "tensor_parallel_size" "value" $m.tensorParallelSize) -}}
{{- range $name, $key := dict "max_model_len" "maxModelLen" "gpu_memory_utilization" "gpuMemoryUtilization" "dtype" "dtype" "enforce_eager" "enforceEager" "max_num_seqs" "maxNumSeqs" "scheduling_policy" "schedulingPolicy" "tool_call_parser" "toolCallParser" "enable_auto_tool_choice" "enableAutoToolChoice" "reasoning_parser" "reasoningParser" "chat_template" "chatTemplate" -}}
{{- include "ray-vllm.vllmFlag" (dict "out" $out "name" $name "value" (index $e $key)) -}}
{{- end -}}
{{- range $name, $value := $e.extraArgs | default dict -}}
{{- include "ray-vllm.vllmFlag" (dict "out" $out "name" $name "value" $value) -}}
{{- end -}}
{{- toYaml $out.args -}}
{{- end -}}

{{/* ray-vllm.standaloneModels: each model with its pod shape (its worker group, or the group defaults without GPUs for a model on no group) and object name, set as .standalone; pass the dict ray-vllm.resolve filled. */}}
{{- define "ray-vllm.standaloneModels" -}}
{{- $models := list -}}
{{- range $m := .models -}}
{{- $group := merge (dict "gpusPerPod" 0) (deepCopy $.root.Values.workerGroupDefaults) -}}
{{- range $.groups -}}
{{- if eq .name $m.workerGroup -}}
{{- $group = . -}}
{{- end -}}
{{- end -}}
{{- $models = append $models (dict "model" $m "group" $group "name" (include "ray-vllm.standaloneName" (list $.root $m.name))) -}}
{{- end -}}
{{- $_ := set . "standalone" $models -}}
{{- end -}}

{{/* ray-vllm.scalingBehavior: HPA scaling behavior from a model's Serve autoscaling delays (held load before a step, either way); pass the autoscaling block. */}}
{{- define "ray-vllm.scalingBehavior" -}}
scaleUp:
  stabilizationWindowSeconds: {{ .upscaleDelayS }}
scaleDown:
  stabilizationWindowSeconds: {{ .downscaleDelayS }}
{{- end -}}
