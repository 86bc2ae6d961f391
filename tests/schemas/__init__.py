"""The vendored CRDs in schemas/ and their JSON Schemas: provenance, conversion rules, regeneration."""
