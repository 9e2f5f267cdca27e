"""The training machinery every trainer shares (the shape stage's, the teacher's, the distillation's):
the loop with EMA, checkpoints, resume and stop requests (loop.py), its config (config.py), weights files
(weights.py), the deterministic object order of batches (sampler.py) and torchrun sharding
(distributed.py)."""
