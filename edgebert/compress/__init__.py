"""Compression methods, one module each: a frozen config dataclass and one in-place function `<verb>_(model, config, ctx)`.

- prune_structured.prune_structured_: attention heads, FFN neurons and whole layers, chosen by importance measured on data
- share.share_layers_: cross-layer parameter sharing (groups of consecutive layers become one module)
- prune_unstructured.prune_unstructured_: magnitude pruning to an exact sparsity (smaller when compressed, not faster)
- distill.distill_: knowledge distillation from the unpruned (or a given) teacher
- quantize.plan_quantization: validated quantization/precision settings that `edgebert export` applies (the model
  is unchanged, hence no underscore)

Per task, what replaces the labelled texts: embedding.py (a sentence-embedding model: the teacher's embeddings) and
tagging.py (a token classifier: tagged sentences, labels and losses per word).

Each module also has `check(model, config, ctx)`: its one-line errors before any work. stages.STAGES registers them;
recipe.compress_model composes them in a fixed order and writes a model directory with a stage record per method.
Nothing here is imported by `import edgebert`; torch is imported inside functions.
"""
