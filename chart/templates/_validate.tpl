{{- /*
Preflight: the cross-field checks values.schema.json cannot express. Every problem is collected and
reported in ONE `fail`, each line naming the key and the fix, so a user fixes everything in one round.
*/ -}}

{{/* ray-vllm.validateValues: fails the render listing every cross-field problem; pass the dict ray-vllm.resolve filled. */}}
{{- define "ray-vllm.validateValues" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $errors := list -}}
{{- $models := .models -}}
{{- $groups := .groups -}}
{{- $pools := .pools -}}
{{- /* EC2 instance families with NVIDIA GPUs, and the Ray accelerator type of each. */ -}}
{{- $gpuFamilies := dict "g4dn" "T4" "g5" "A10G" "g6" "L4" "gr6" "L4" "g6e" "L40S" "p3" "V100" "p3dn" "V100"
      "p4d" "A100" "p4de" "A100" "p5" "H100" "p5e" "H200" "p5en" "H200" "p6-b200" "B200" -}}
{{- /* The parsers the image's vLLM registers, for the models' toolCallParser and reasoningParser. */ -}}
{{- $parsers := $root.Files.Get "files/vllm/parsers.yaml" | fromYaml -}}
{{- /* Problems of Serve deployment blocks, collected by ray-vllm.validateDeployment. */ -}}
{{- $deploymentProblems := dict "errors" list -}}

{{- if not (regexMatch "^[a-z]" (include "ray-vllm.rayServiceName" $root)) -}}
{{- $errors = append $errors (printf "release name / fullnameOverride: the RayService name %q must start with a letter (KubeRay needs a DNS-1035 label); use a release name or fullnameOverride that starts with a letter" (include "ray-vllm.rayServiceName" $root)) -}}
{{- end -}}

{{- /* Worker groups, indexed by name for the model checks below. */ -}}
{{- $groupByName := dict -}}
{{- range $i, $g := $groups -}}
{{- $key := printf "workerGroups[%d]" $i -}}
{{- if hasKey $groupByName $g.name -}}
{{- $errors = append $errors (printf "%s.name: %q is used twice; give every worker group its own name" $key $g.name) -}}
{{- end -}}
{{- $_ := set $groupByName $g.name (dict "index" $i "group" $g) -}}
{{- if gt (int $g.minReplicas) (int $g.maxReplicas) -}}
{{- $errors = append $errors (printf "%s.minReplicas (%d) is greater than maxReplicas (%d); lower minReplicas or raise maxReplicas" $key (int $g.minReplicas) (int $g.maxReplicas)) -}}
{{- end -}}
{{- if not (kindIs "invalid" $g.replicas) -}}
{{- if or (lt (int $g.replicas) (int $g.minReplicas)) (gt (int $g.replicas) (int $g.maxReplicas)) -}}
{{- $errors = append $errors (printf "%s.replicas (%d) is outside minReplicas..maxReplicas (%d..%d); set it within that range or to null" $key (int $g.replicas) (int $g.minReplicas) (int $g.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Models: names, worker group fit, and capacity. Name rules say what serve_app/config.py says (docs/rules.md). */ -}}
{{- $names := dict -}}
{{- $deploymentNames := dict -}}
{{- range $i, $m := $models -}}
{{- $key := printf "models[%d]" $i -}}
{{- $deploymentName := include "ray-vllm.llmDeploymentName" $m.name -}}
{{- if hasKey $names $m.name -}}
{{- $errors = append $errors (printf "%s.name: %q is used twice; every model needs its own name" $key $m.name) -}}
{{- else if hasKey $deploymentNames $deploymentName -}}
{{- $errors = append $errors (printf "%s.name: %q has the deployment name %q of %s (/ becomes --, . becomes _); rename one of them" $key $m.name $deploymentName (get $deploymentNames $deploymentName)) -}}
{{- else -}}
{{- $_ := set $names $m.name (printf "%s.name" $key) -}}
{{- $_ := set $deploymentNames $deploymentName (printf "%s.name" $key) -}}
{{- end -}}
{{- $tp := int $m.tensorParallelSize -}}
{{- include "ray-vllm.validateDeployment" (dict "out" $deploymentProblems "key" (printf "%s.deployment" $key) "block" $m.deployment) -}}
{{- /* Tool-call and reasoning settings vLLM would refuse at start; worded as serve_app/config.py's engine_problems. */ -}}
{{- $e := $m.engine -}}
{{- $ekey := printf "%s.engine" $key -}}
{{- if and $e.enableAutoToolChoice (not $e.toolCallParser) -}}
{{- $errors = append $errors (printf "%s.enableAutoToolChoice is true but toolCallParser is not set; set %s.toolCallParser to the parser of the model's tool-call format, or enableAutoToolChoice to false" $ekey $ekey) -}}
{{- end -}}
{{- range $c := list (list "tool" $e.toolCallParser "toolCallParser" "tool_parser_plugin" $parsers.toolCallParsers) (list "reasoning" $e.reasoningParser "reasoningParser" "reasoning_parser_plugin" $parsers.reasoningParsers) -}}
{{- $value := index $c 1 -}}
{{- if and $value (not (hasKey ($e.extraArgs | default dict) (index $c 3))) (not (has $value (index $c 4))) -}}
{{- $errors = append $errors (printf "%s.%s: %q is not a %s parser of vLLM; use one of %s, or load yours with %s.extraArgs.%s" $ekey (index $c 2) $value (index $c 0) (index $c 4 | sortAlpha | toJson) $ekey (index $c 3)) -}}
{{- end -}}
{{- end -}}
{{- if and (ne $m.accelerator "cpu") (not $m.workerGroup) -}}
{{- $errors = append $errors (printf "%s.workerGroup is empty but accelerator is %q; name one of workerGroups[].name so the GPU replicas have a place to run" $key $m.accelerator) -}}
{{- end -}}
{{- if $m.workerGroup -}}
{{- $entry := get $groupByName $m.workerGroup -}}
{{- if not $entry -}}
{{- $errors = append $errors (printf "%s.workerGroup: %q is not a worker group; use one of %s" $key $m.workerGroup (keys $groupByName | sortAlpha | toJson)) -}}
{{- else -}}
{{- $g := $entry.group -}}
{{- $gkey := printf "workerGroups[%d]" (int $entry.index) -}}
{{- if gt $tp (int $g.gpusPerPod) -}}
{{- $errors = append $errors (printf "%s.tensorParallelSize (%d) is more than %s.gpusPerPod (%d) of group %q; raise gpusPerPod or move the model to a group with at least %d GPUs per pod" $key $tp $gkey (int $g.gpusPerPod) $g.name $tp) -}}
{{- end -}}
{{- $maxReplicas := ternary $m.deployment.autoscaling.maxReplicas $m.deployment.numReplicas (eq $m.deployment.autoscaling.enabled true) | int -}}
{{- $needed := mul $maxReplicas $tp -}}
{{- $capacity := mul (int $g.maxReplicas) (int $g.gpusPerPod) -}}
{{- if gt (int $needed) (int $capacity) -}}
{{- $errors = append $errors (printf "%s.deployment: %d replicas x %d GPUs = %d GPUs, but %s (%q) holds at most %d (maxReplicas %d x gpusPerPod %d); lower the model's max replicas or raise %s.maxReplicas" $key $maxReplicas $tp (int $needed) $gkey $g.name (int $capacity) (int $g.maxReplicas) (int $g.gpusPerPod) $gkey) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "ray-vllm.validateDeployment" (dict "out" $deploymentProblems "key" "gateway.deployment" "block" $v.gateway.deployment) -}}

{{- /* Routing: a name is one model, alias, size tier or canary; aliases and tiers point at a model or a
canary, canary arms at a model; canary weights add up to 100. Same rules and words as
serve_app/config.py, which checks a routing that never went through Helm (docs/rules.md). */ -}}
{{- $routing := $v.routing -}}
{{- $canaries := $routing.canaries | default list -}}
{{- $targets := deepCopy $names -}}
{{- range $i, $c := $canaries -}}
{{- $_ := set $targets $c.name (printf "routing.canaries[%d].name" $i) -}}
{{- end -}}
{{- $routeNames := deepCopy $names -}}
{{- $routes := list -}}
{{- range $section := list "aliases" "sizeTiers" -}}
{{- range $name, $target := index $routing $section | default dict -}}
{{- $key := printf "routing.%s.%s" $section $name -}}
{{- $routes = append $routes (list $key $name) -}}
{{- if not (hasKey $targets $target) -}}
{{- $errors = append $errors (printf "%s: %q is not a model or canary; point it at one of %s" $key $target (keys $targets | sortAlpha | toJson)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $c := $canaries -}}
{{- $key := printf "routing.canaries[%d]" $i -}}
{{- $routes = append $routes (list (printf "%s.name" $key) $c.name) -}}
{{- $total := 0 -}}
{{- range $j, $arm := $c.arms -}}
{{- $total = add $total (int $arm.weight) -}}
{{- if not (hasKey $names $arm.model) -}}
{{- $errors = append $errors (printf "%s.arms[%d].model: %q is not a model; use one of %s" $key $j $arm.model (keys $names | sortAlpha | toJson)) -}}
{{- end -}}
{{- end -}}
{{- if ne (int $total) 100 -}}
{{- $errors = append $errors (printf "%s.arms: weights add up to %d, not 100; adjust arms[].weight" $key (int $total)) -}}
{{- end -}}
{{- end -}}
{{- range $route := $routes -}}
{{- $key := index $route 0 -}}
{{- $name := index $route 1 -}}
{{- if hasKey $routeNames $name -}}
{{- $errors = append $errors (printf "%s: %q is already used by %s; pick a name no model, alias, size tier or canary uses" $key $name (get $routeNames $name)) -}}
{{- else -}}
{{- $_ := set $routeNames $name $key -}}
{{- end -}}
{{- end -}}

{{- /* RAG */ -}}
{{- if $v.rag.enabled -}}
{{- if not (hasKey $routeNames $v.rag.model) -}}
{{- $errors = append $errors (printf "rag.model: %q is not a model, alias, size tier or canary; use one of %s" $v.rag.model (keys $routeNames | sortAlpha | toJson)) -}}
{{- end -}}
{{- range $name := list "RagIngress" "Embedder" -}}
{{- include "ray-vllm.validateDeployment" (dict "out" $deploymentProblems "key" (printf "rag.deployments.%s" $name) "block" (index $v.rag.deployments $name)) -}}
{{- end -}}
{{- end -}}

{{- /* Agent */ -}}
{{- if $v.agent.enabled -}}
{{- if not (hasKey $routeNames $v.agent.model) -}}
{{- $errors = append $errors (printf "agent.model: %q is not a model, alias, size tier or canary; use one of %s" $v.agent.model (keys $routeNames | sortAlpha | toJson)) -}}
{{- end -}}
{{- include "ray-vllm.validateDeployment" (dict "out" $deploymentProblems "key" "agent.deployment" "block" $v.agent.deployment) -}}
{{- end -}}

{{- /* Karpenter: pools exist, hold GPUs of the models' type, and their limits cover the worker groups. */ -}}
{{- if $v.karpenter.enabled -}}
{{- $poolByName := dict -}}
{{- range $i, $p := $pools -}}
{{- $key := printf "karpenter.nodePools[%d]" $i -}}
{{- if hasKey $poolByName $p.name -}}
{{- $errors = append $errors (printf "%s.name: %q is used twice; give every NodePool its own name" $key $p.name) -}}
{{- end -}}
{{- $_ := set $poolByName $p.name (dict "index" $i "pool" $p "gpus" 0) -}}
{{- range $j, $family := $p.instanceFamilies -}}
{{- if not (hasKey $gpuFamilies $family) -}}
{{- $errors = append $errors (printf "%s.instanceFamilies[%d]: %q has no NVIDIA GPU; use GPU families such as %s" $key $j $family (keys $gpuFamilies | sortAlpha | toJson)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $g := $groups -}}
{{- $key := printf "workerGroups[%d].nodePool" $i -}}
{{- $entry := get $poolByName ($g.nodePool | default "") -}}
{{- if not $entry -}}
{{- $errors = append $errors (printf "%s: %q is not in karpenter.nodePools; use one of %s" $key ($g.nodePool | default "") (keys $poolByName | sortAlpha | toJson)) -}}
{{- else -}}
{{- $_ := set $entry "gpus" (add $entry.gpus (mul (int $g.maxReplicas) (int $g.gpusPerPod))) -}}
{{- end -}}
{{- end -}}
{{- range $name, $entry := $poolByName -}}
{{- if gt (int $entry.gpus) (int $entry.pool.gpuLimit) -}}
{{- $errors = append $errors (printf "karpenter.nodePools[%d].gpuLimit (%d) is less than the %d GPUs its worker groups may start (maxReplicas x gpusPerPod); raise gpuLimit or lower the groups' maxReplicas" (int $entry.index) (int $entry.pool.gpuLimit) (int $entry.gpus)) -}}
{{- end -}}
{{- end -}}
{{- range $i, $m := $models -}}
{{- $group := get $groupByName ($m.workerGroup | default "") -}}
{{- if and $group (ne $m.accelerator "cpu") -}}
{{- $entry := get $poolByName ($group.group.nodePool | default "") -}}
{{- if $entry -}}
{{- range $family := $entry.pool.instanceFamilies -}}
{{- $gpu := get $gpuFamilies $family -}}
{{- if and $gpu (ne $gpu $m.accelerator) -}}
{{- $errors = append $errors (printf "models[%d].accelerator: %q, but its NodePool %q offers %s (%s); set accelerator to %q or use a pool of matching instances" $i $m.accelerator $entry.pool.name $family $gpu $gpu) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $nc := $v.karpenter.ec2NodeClass -}}
{{- if $nc.create -}}
{{- range $field := list "role" "subnetSelectorTerms" "securityGroupSelectorTerms" -}}
{{- if not (index $nc $field) -}}
{{- $errors = append $errors (printf "karpenter.ec2NodeClass.%s is empty; set it for your cluster (see the EKS install steps in the README) or set karpenter.ec2NodeClass.create=false and name an existing EC2NodeClass" $field) -}}
{{- end -}}
{{- end -}}
{{- else if not $nc.name -}}
{{- $errors = append $errors "karpenter.ec2NodeClass.name is empty while create is false; name the existing EC2NodeClass the NodePools should use" -}}
{{- end -}}
{{- end -}}

{{- /* Worker drain: the preStop runs inside the grace period, which must leave it room. */ -}}
{{- if and $v.workerDrain.enabled (le (int $v.workerDrain.terminationGracePeriodSeconds) (int $v.workerDrain.deadlineSeconds)) -}}
{{- $errors = append $errors (printf "workerDrain.terminationGracePeriodSeconds (%d) must be longer than workerDrain.deadlineSeconds (%d), or Kubernetes kills the pod before its drain ends; raise the grace period or shorten the deadline" (int $v.workerDrain.terminationGracePeriodSeconds) (int $v.workerDrain.deadlineSeconds)) -}}
{{- end -}}
{{- if $v.workerDrain.enabled -}}
{{- range $i, $m := $models -}}
{{- if and $m.workerGroup (ge (int $m.deployment.gracefulShutdownTimeoutS) (int $v.workerDrain.deadlineSeconds)) -}}
{{- $errors = append $errors (printf "models[%d].deployment.gracefulShutdownTimeoutS (%d) must be shorter than workerDrain.deadlineSeconds (%d): Serve stops a draining node's replica that long before the deadline so its requests can finish; shorten it or raise the deadline" $i (int $m.deployment.gracefulShutdownTimeoutS) (int $v.workerDrain.deadlineSeconds)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Cluster autoscaling and upgrades */ -}}
{{- if and $v.autoscaler.enabled (le (int $v.autoscaler.idleTimeoutSeconds) (int $v.autoscaler.gpuNodeStartupSeconds)) -}}
{{- $errors = append $errors (printf "autoscaler.idleTimeoutSeconds (%d) must be longer than autoscaler.gpuNodeStartupSeconds (%d), or idle GPU nodes are released faster than new ones start; raise idleTimeoutSeconds" (int $v.autoscaler.idleTimeoutSeconds) (int $v.autoscaler.gpuNodeStartupSeconds)) -}}
{{- end -}}
{{- if eq $v.upgradeStrategy.type "NewClusterWithIncrementalUpgrade" -}}
{{- $o := $v.upgradeStrategy.clusterUpgradeOptions -}}
{{- if not $v.autoscaler.enabled -}}
{{- $errors = append $errors "upgradeStrategy.type NewClusterWithIncrementalUpgrade needs the Ray autoscaler; set autoscaler.enabled=true or use NewCluster" -}}
{{- end -}}
{{- if not $o.gatewayClassName -}}
{{- $errors = append $errors "upgradeStrategy.clusterUpgradeOptions.gatewayClassName is empty; name the Gateway API class that shifts traffic during incremental upgrades" -}}
{{- end -}}
{{- if gt (int $o.stepSizePercent) (int $o.maxSurgePercent) -}}
{{- $errors = append $errors (printf "upgradeStrategy.clusterUpgradeOptions.stepSizePercent (%d) is greater than maxSurgePercent (%d); lower the step or raise the surge" (int $o.stepSizePercent) (int $o.maxSurgePercent)) -}}
{{- end -}}
{{- end -}}
{{- if $v.gcsFaultTolerance.enabled -}}
{{- if not $v.gcsFaultTolerance.redisAddress -}}
{{- $errors = append $errors "gcsFaultTolerance.redisAddress is empty; set the external Redis as host:port" -}}
{{- end -}}
{{- if not $v.gcsFaultTolerance.redisPasswordSecret.name -}}
{{- $errors = append $errors "gcsFaultTolerance.redisPasswordSecret.name is empty; name the existing Secret that holds the Redis password" -}}
{{- end -}}
{{- end -}}
{{- if and $v.rayAuth.enabled (semverCompare "<2.52.0" $v.rayVersion) -}}
{{- $errors = append $errors (printf "rayVersion %q is older than 2.52.0, which Ray token auth (rayAuth.enabled) needs; use a newer Ray image" $v.rayVersion) -}}
{{- end -}}

{{- /* Exposure */ -}}
{{- $dash := $v.ingress.dashboard -}}
{{- if $dash.enabled -}}
{{- if not $dash.host -}}
{{- $errors = append $errors "ingress.dashboard.host is empty; set the host name the dashboard is served on" -}}
{{- end -}}
{{- if and (eq $dash.auth.type "none") (not $dash.allowedSourceRanges) (not $dash.dangerouslyAllowUnauthenticatedDashboard) -}}
{{- $errors = append $errors "ingress.dashboard: the Ray dashboard would be reachable by anyone who reaches the Ingress (it can run arbitrary code); set ingress.dashboard.auth.type, or ingress.dashboard.allowedSourceRanges, or (only if something else guards it) ingress.dashboard.dangerouslyAllowUnauthenticatedDashboard=true" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.dashboardFrom) -}}
{{- $errors = append $errors "networkPolicy.dashboardFrom is empty, so the NetworkPolicy blocks the dashboard Ingress; add the ingress controller's pods (e.g. a namespaceSelector for ingress-nginx, or the VPC ipBlock for an ALB)" -}}
{{- end -}}
{{- $auth := $dash.auth -}}
{{- if and (has $auth.type (list "basic" "oauth2")) (ne $dash.controller "nginx") -}}
{{- $errors = append $errors (printf "ingress.dashboard.auth.type %q works with ingress-nginx only; set ingress.dashboard.controller=nginx or use auth.type=oidc with alb" $auth.type) -}}
{{- end -}}
{{- if and (eq $auth.type "oidc") (ne $dash.controller "alb") -}}
{{- $errors = append $errors "ingress.dashboard.auth.type \"oidc\" works with the AWS Load Balancer Controller only; set ingress.dashboard.controller=alb or use auth.type basic/oauth2 with nginx" -}}
{{- end -}}
{{- if and (eq $auth.type "basic") (not $auth.basicSecretName) -}}
{{- $errors = append $errors "ingress.dashboard.auth.basicSecretName is empty; name the existing htpasswd Secret (key `auth`)" -}}
{{- end -}}
{{- if and (eq $auth.type "oauth2") (not $auth.oauth2Url) -}}
{{- $errors = append $errors "ingress.dashboard.auth.oauth2Url is empty; set the oauth2-proxy auth URL (e.g. https://auth.example.com/oauth2/auth)" -}}
{{- end -}}
{{- if eq $auth.type "oidc" -}}
{{- range $field := list "issuer" "authorizationEndpoint" "tokenEndpoint" "userInfoEndpoint" "secretName" -}}
{{- if not (index ($auth.oidc | default dict) $field) -}}
{{- $errors = append $errors (printf "ingress.dashboard.auth.oidc.%s is empty; set it from your identity provider (secretName: Secret with clientID and clientSecret)" $field) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.ingress.api.enabled (not $v.ingress.api.host) -}}
{{- $errors = append $errors "ingress.api.host is empty; set the host name the OpenAI endpoint is served on" -}}
{{- end -}}
{{- if and $v.monitoring.podMonitor.enabled $v.monitoring.serviceMonitor.enabled -}}
{{- $errors = append $errors "monitoring.podMonitor.enabled and monitoring.serviceMonitor.enabled are both true, which scrapes every Ray pod twice; enable only one" -}}
{{- end -}}

{{- if and $v.batch.enabled (not $v.batch.storage) (ne $v.mode "standalone") -}}
{{- $errors = append $errors "batch.storage: batch.enabled needs a place for files and batch records that outlives the Batcher's pod; set s3://bucket/prefix (give the service account's role access through serviceAccount.annotations) or an absolute directory on a volume" -}}
{{- end -}}

{{- /* Standalone mode: what only the Ray Serve gateway does is refused in the README's "Which mode" terms. */ -}}
{{- if eq $v.mode "standalone" -}}
{{- $use := "use mode rayservice (README \"Which mode\")" -}}
{{- range $section := list "aliases" "sizeTiers" "canaries" -}}
{{- if index $v.routing $section -}}
{{- $errors = append $errors (printf "routing.%s: several names behind one endpoint need the Ray Serve gateway, and standalone mode gives each model its own endpoint; %s or remove routing.%s" $section $use $section) -}}
{{- end -}}
{{- end -}}
{{- if $v.rag.enabled -}}
{{- $errors = append $errors (printf "rag.enabled: RAG is a pipeline of Ray Serve deployments (embedder, retrieval, generation); %s or set rag.enabled=false" $use) -}}
{{- end -}}
{{- if $v.agent.enabled -}}
{{- $errors = append $errors (printf "agent.enabled: the agent calls the models through Ray Serve deployment handles; %s or set agent.enabled=false" $use) -}}
{{- end -}}
{{- if $v.batch.enabled -}}
{{- $errors = append $errors (printf "batch.enabled: batches run in a Ray Serve deployment beside the gateway; %s or set batch.enabled=false" $use) -}}
{{- end -}}
{{- if and $v.ingress.api.enabled (gt (len $models) 1) -}}
{{- $errors = append $errors (printf "ingress.api: standalone mode has one endpoint per model and the Ingress fronts one, but %d models are set; %s to serve them behind one endpoint, or keep one model" (len $models) $use) -}}
{{- end -}}
{{- range $key, $on := dict "ingress.dashboard.enabled" $v.ingress.dashboard.enabled "karpenter.headPool.enabled" (and $v.karpenter.enabled $v.karpenter.headPool.enabled) "gcsFaultTolerance.enabled" $v.gcsFaultTolerance.enabled -}}
{{- if $on -}}
{{- $errors = append $errors (printf "%s: standalone mode runs no Ray (no head, dashboard or GCS); set it false" $key) -}}
{{- end -}}
{{- end -}}
{{- if $v.monitoring.serviceMonitor.enabled -}}
{{- $errors = append $errors "monitoring.serviceMonitor.enabled: its Service selects Ray's metrics ports; in standalone mode use monitoring.podMonitor.enabled=true" -}}
{{- end -}}
{{- $slugs := dict -}}
{{- range $i, $m := $models -}}
{{- $key := printf "models[%d]" $i -}}
{{- $slug := include "ray-vllm.modelSlug" $m.name -}}
{{- if hasKey $slugs $slug -}}
{{- $errors = append $errors (printf "%s.name: %q and %s both name their Deployment and Service %q (lowercase, other characters become -); rename one of them" $key $m.name (get $slugs $slug) (include "ray-vllm.standaloneName" (list $root $m.name))) -}}
{{- else -}}
{{- $_ := set $slugs $slug (printf "%s.name %q" $key $m.name) -}}
{{- end -}}
{{- if $m.lora -}}
{{- $errors = append $errors (printf "%s.lora: loading LoRA adapters from %s per request is Ray Serve LLM's; %s or set lora to null" $key $m.lora.dynamicLoraLoadingPath $use) -}}
{{- end -}}
{{- $entry := get $groupByName ($m.workerGroup | default "") -}}
{{- if and $entry (ne $m.accelerator "cpu") (lt (int $m.tensorParallelSize) (int $entry.group.gpusPerPod)) -}}
{{- $errors = append $errors (printf "%s.tensorParallelSize (%d) is less than workerGroups[%d].gpusPerPod (%d): a standalone pod runs one engine on all its GPUs, so %d would sit idle; set tensorParallelSize to %d, use a group with %d GPUs per pod, or %s to share a pod's GPUs between models" $key (int $m.tensorParallelSize) (int $entry.index) (int $entry.group.gpusPerPod) (sub (int $entry.group.gpusPerPod) (int $m.tensorParallelSize)) (int $entry.group.gpusPerPod) (int $m.tensorParallelSize) $use) -}}
{{- end -}}
{{- $a := $m.deployment.autoscaling -}}
{{- if $a.enabled -}}
{{- $type := $v.standalone.autoscaling.type -}}
{{- if and (eq $type "hpa") (lt (int $a.minReplicas) 1) -}}
{{- $errors = append $errors (printf "%s.deployment.autoscaling.minReplicas is 0, but a HorizontalPodAutoscaler keeps at least 1; set it to 1 or use standalone.autoscaling.type=keda to scale to zero" $key) -}}
{{- end -}}
{{- if and (eq $type "keda") (not $v.monitoring.podMonitor.enabled) -}}
{{- $errors = append $errors (printf "%s.deployment.autoscaling: KEDA reads vLLM's load from the Prometheus the PodMonitor feeds, which is off; set monitoring.podMonitor.enabled=true, or standalone.autoscaling.type=hpa with a metrics adapter" $key) -}}
{{- end -}}
{{- range $field := list "upscaleDelayS" "downscaleDelayS" -}}
{{- if gt (int (index $a $field)) 3600 -}}
{{- $errors = append $errors (printf "%s.deployment.autoscaling.%s (%d) is over 3600, the longest stabilization window Kubernetes' autoscaler takes in standalone mode; lower it" $key $field (int (index $a $field))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- $errors = concat $errors $deploymentProblems.errors -}}
{{- if $errors -}}
{{- fail (printf "\n\nray-vllm: %d problem(s) in the values:\n- %s\n" (len $errors) (join "\n- " $errors)) -}}
{{- end -}}
{{- end -}}

{{/* ray-vllm.validateDeployment: appends the problems of one Serve deployment block to out.errors; pass (dict "out" $d "key" "key" "block" $block). */}}
{{- define "ray-vllm.validateDeployment" -}}
{{- $key := .key -}}
{{- $a := .block.autoscaling -}}
{{- $errors := list -}}
{{- if $a.enabled -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- $errors = append $errors (printf "%s.autoscaling.minReplicas (%d) is greater than maxReplicas (%d); lower minReplicas or raise maxReplicas" $key (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- if not (kindIs "invalid" $a.initialReplicas) -}}
{{- if or (lt (int $a.initialReplicas) (int $a.minReplicas)) (gt (int $a.initialReplicas) (int $a.maxReplicas)) -}}
{{- $errors = append $errors (printf "%s.autoscaling.initialReplicas (%d) is outside minReplicas..maxReplicas (%d..%d); set it within that range or to null" $key (int $a.initialReplicas) (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := set .out "errors" (concat .out.errors $errors) -}}
{{- end -}}
