"""View generator: data, networks, diffusion / consistency maths, trainers, sampler."""
