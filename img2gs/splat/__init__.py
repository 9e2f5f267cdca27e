"""Gaussian splatting: Gaussians, rasterizer backends, densification, optimizer, exporters."""
