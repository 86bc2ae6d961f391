"""Chart tests: one module per template, one class per resource; every test renders through devkit.helm."""
