"""The shape stage: a small deterministic network that lifts a framed photo to two depth layers.

    photo [S, S, 4]  ->  front depth, back depth, back-depth confidence [R, R]  +  camera elevation

config.py (frozen configs and presets), network.py (the U-Net and the meaning of its outputs),
loss.py (regression losses), train.py (`img2gs train shape`), checkpoint.py (safetensors + JSON),
estimator.py (inference on users' photos), evaluate.py (`img2gs eval shape`).
"""
