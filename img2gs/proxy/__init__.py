"""The photo in 3D: the framed photo's pixels lifted to coloured Gaussians on and between two depth
layers (lift.py), and that proxy rendered at any pose (render.py) -- RGB, alpha, depth and a
"seen in the photo" mask. The fit starts from it; the view generator is conditioned on it."""
