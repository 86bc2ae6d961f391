{{- /* The NodePool shape shared by the GPU pools and the optional CPU head pool. */ -}}

{{/* ray-vllm.nodePool: one karpenter.sh/v1 NodePool; pass (list $ pool taints limits), pool merged over nodePoolDefaults. */}}
{{- define "ray-vllm.nodePool" -}}
{{- $root := index . 0 -}}
{{- $p := index . 1 -}}
{{- $taints := index . 2 -}}
{{- $limits := index . 3 -}}
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: {{ include "ray-vllm.nodePoolName" (list $root $p.name) }}
  labels:
    {{- include "ray-vllm.componentLabels" (list $root "node-pool") | nindent 4 }}
spec:
  weight: {{ $p.weight }}
  limits:
    {{- toYaml $limits | nindent 4 }}
  disruption:
    consolidationPolicy: {{ $p.consolidationPolicy }}
    consolidateAfter: {{ $p.consolidateAfter }}
    {{- with $p.budgets }}
    budgets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  template:
    metadata:
      labels:
        {{- include "ray-vllm.selectorLabels" $root | nindent 8 }}
        {{- with $p.labels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: {{ include "ray-vllm.ec2NodeClassName" $root }}
      expireAfter: {{ $p.expireAfter }}
      requirements:
        - key: karpenter.k8s.aws/instance-family
          operator: In
          values: {{ toJson $p.instanceFamilies }}
        {{- with $p.instanceSizes }}
        - key: karpenter.k8s.aws/instance-size
          operator: In
          values: {{ toJson . }}
        {{- end }}
        - key: kubernetes.io/arch
          operator: In
          values: [{{ $p.arch }}]
        - key: kubernetes.io/os
          operator: In
          values: [linux]
        - key: karpenter.sh/capacity-type
          operator: In
          values: {{ toJson $p.capacityTypes }}
      {{- with $taints }}
      taints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
