"""The view generator's backbone F: a conditional U-Net (diffusers UNet2DConditionModel) in pixel space.

    F(x_in, c_noise, photo, pose) -> [B, V, 4, H, W]

One sample is one object: its V target views are generated jointly, share one noise level and see one
another through cross-view attention (a multi-view diffusion model, as MVDream / Zero123++).

* `x_in`  [B, V, 4, H, W]: the (preconditioned) noisy target views, RGB composited on white + alpha,
  in [-1, 1] before noise.
* `c_noise` [B] (or a scalar): the noise level as the preconditioner encodes it (EDM: ln(sigma) / 4),
  embedded with Gaussian Fourier features.
* `photo` [B, 3, H, W]: the input photo (RGB on white, [-1, 1]), concatenated channel-wise to each of
  its V views and encoded once into the tokens the U-Net cross-attends to.
* `pose` [B, V, 4]: relative pose input -> target (`img2gs.cameras.relative_pose_encoding`), added to
  the noise-level embedding through diffusers' "projection" class embedding.
* with `ModelConfig.proxy_conditioning`, per pixel of every target view:
  `proxy` [B, V, 6, H, W]: the lifted proxy rendered at the view (batches.encode_proxy: RGB on white,
  alpha, depth, seen-in-the-photo mask), aligned with the view, so the network learns the residual
  (what the proxy gets wrong, what the photo cannot show) instead of 3D from scratch;
  `rays` [B, V, 6, H, W]: the view's Plücker ray map relative to the input camera (img2gs.ray_maps).
  With `residual_on_proxy` the diffused sample itself is the residual x - proxy (RGB on white + alpha;
  batches.ViewBatch.residual_base): a zero residual is the proxy, so only its errors must be learnt.

Null conditioning (classifier-free guidance) is an all-zero photo, pose and proxy; the ray map stays
(the camera is known either way) (`null_condition`). The samplers stack conditional and null batches
along B.

Cross-view attention (MVDream-style, Shi et al. 2023): at the lowest `cross_view_levels` levels and in
the middle block, the self-attention of each transformer block attends over the tokens of all V views
of the object ([B*V, h*w, C] -> [B, V*h*w, C]). It adds no parameters; `cross_view_attention=False`
keeps every view independent.

The preconditioning (c_in, c_skip, c_out) lives in `img2gs.viewgen.precond`, not here.
"""

from __future__ import annotations

import contextlib

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from torch import Tensor, nn

from img2gs.ray_maps import RAY_CHANNELS
from img2gs.viewgen.config import ModelConfig
from img2gs.viewgen.encoder import build_image_encoder

TARGET_CHANNELS = 4  # RGB on white + alpha
PHOTO_CHANNELS = 3  # RGB on white
PROXY_CHANNELS = 6  # RGB on white, alpha, depth, seen (batches.encode_proxy)
POSE_DIM = 4
DROPPED_BY_NULL = ("photo", "pose", "proxy")  # what classifier-free dropout removes; rays stay


class ViewAttnProcessor:
    """Scaled-dot-product attention that can span the V views of one object.

    diffusers passes `num_views` from `cross_attention_kwargs` to every processor; a processor with
    `cross_view=False` ignores it (plain per-view attention).
    """

    def __init__(self, cross_view: bool):
        self.cross_view = cross_view
        self.inner = AttnProcessor2_0()

    def __call__(self, attn, hidden_states: Tensor, encoder_hidden_states: Tensor | None = None,
                 attention_mask: Tensor | None = None, temb: Tensor | None = None, num_views: int = 1) -> Tensor:
        if not self.cross_view or num_views == 1 or encoder_hidden_states is not None:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        n, length, channels = hidden_states.shape  # [B*V, h*w, C]
        joint = hidden_states.reshape(n // num_views, num_views * length, channels)  # [B, V*h*w, C]
        out = self.inner(attn, joint, None, attention_mask, temb)
        return out.reshape(n, length, channels)


def _block_types(config: ModelConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in config.attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention))
    return down, up


def _is_cross_view_layer(name: str, config: ModelConfig) -> bool:
    """True for self-attention (attn1) layers at the lowest `cross_view_levels` levels or in the middle."""
    if not config.cross_view_attention or ".attn1." not in name:
        return False
    levels = len(config.block_out_channels)
    if name.startswith("mid_block."):
        return True
    index = int(name.split(".")[1])
    if name.startswith("down_blocks."):
        return index >= levels - config.cross_view_levels
    return index < config.cross_view_levels  # up_blocks run from the lowest resolution upwards


class ViewGenNet(nn.Module):
    """Backbone F of the view generator (see the module docstring for the call contract)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        down, up = _block_types(config)
        with _seeded(config.seed):  # diffusers initialises from the global RNG; keep it reproducible
            self.unet = UNet2DConditionModel(
                sample_size=config.resolution,
                in_channels=TARGET_CHANNELS + PHOTO_CHANNELS + self.conditioning_channels(config),
                out_channels=TARGET_CHANNELS,
                down_block_types=down,
                up_block_types=up,
                mid_block_type="UNetMidBlock2DCrossAttn" if config.attention[-1] else None,
                block_out_channels=config.block_out_channels,
                layers_per_block=config.layers_per_block,
                cross_attention_dim=config.cross_attention_dim,
                attention_head_dim=config.num_heads,  # diffusers' name for the number of heads
                norm_num_groups=config.norm_num_groups,
                time_embedding_type="fourier",
                class_embed_type="projection",
                projection_class_embeddings_input_dim=POSE_DIM,
            )
            self.encoder = build_image_encoder(config.encoder, config.cross_attention_dim)
        self.unet.set_attn_processor({
            name: ViewAttnProcessor(_is_cross_view_layer(name, config)) for name in self.unet.attn_processors
        })

    @staticmethod
    def conditioning_channels(config: ModelConfig) -> int:
        """Per-pixel conditioning channels of each view beyond the noisy view and the photo."""
        return PROXY_CHANNELS + RAY_CHANNELS if config.proxy_conditioning else 0

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def forward(self, x: Tensor, c_noise: Tensor | float, photo: Tensor, pose: Tensor,
                proxy: Tensor | None = None, rays: Tensor | None = None) -> Tensor:
        _check_inputs(x, photo, pose)
        b, v, c, h, w = x.shape
        c_noise = _per_sample(c_noise, b, x).repeat_interleave(v)  # [B*V]
        tokens = self.encoder(photo).repeat_interleave(v, dim=0)  # [B*V, T, D], encoded once per object
        photo_per_view = photo.repeat_interleave(v, dim=0)  # [B*V, 3, H, W]
        parts = [x.reshape(b * v, c, h, w), photo_per_view]
        if self.config.proxy_conditioning:
            _check_per_view("proxy", proxy, (b, v, PROXY_CHANNELS, h, w))
            _check_per_view("rays", rays, (b, v, RAY_CHANNELS, h, w))
            parts += [proxy.reshape(b * v, PROXY_CHANNELS, h, w), rays.reshape(b * v, RAY_CHANNELS, h, w)]
        elif proxy is not None or rays is not None:
            raise ValueError("this model was built without proxy conditioning; do not pass proxy / rays")
        sample = torch.cat(parts, dim=1)  # [B*V, 7 (+ 12), H, W]
        out = self.unet(sample, c_noise, encoder_hidden_states=tokens, class_labels=pose.reshape(b * v, POSE_DIM),
                        cross_attention_kwargs={"num_views": v}, return_dict=False)[0]
        return out.reshape(b, v, c, h, w)


def _check_inputs(x: Tensor, photo: Tensor, pose: Tensor) -> None:
    if x.ndim != 5 or x.shape[2] != TARGET_CHANNELS:
        raise ValueError(f"x must be [B, V, {TARGET_CHANNELS}, H, W], got {tuple(x.shape)}")
    b, v, _, h, w = x.shape
    if photo.shape != (b, PHOTO_CHANNELS, h, w):
        raise ValueError(f"photo must be [{b}, {PHOTO_CHANNELS}, {h}, {w}], got {tuple(photo.shape)}")
    if pose.shape != (b, v, POSE_DIM):
        raise ValueError(f"pose must be [{b}, {v}, {POSE_DIM}], got {tuple(pose.shape)}")


def _check_per_view(name: str, value: Tensor | None, shape: tuple[int, ...]) -> None:
    if value is None:
        raise ValueError(f"this model is conditioned on the proxy: pass {name} {list(shape)}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must be {list(shape)}, got {tuple(value.shape)}")


def _per_sample(c_noise: Tensor | float, b: int, x: Tensor) -> Tensor:
    """c_noise as [B] from a scalar, [B] or [B, 1, ...]."""
    c_noise = torch.as_tensor(c_noise, dtype=x.dtype, device=x.device).reshape(-1)
    if c_noise.numel() == 1:
        return c_noise.expand(b)
    if c_noise.numel() != b:
        raise ValueError(f"c_noise has {c_noise.numel()} values for {b} objects")
    return c_noise


def null_condition(**cond: Tensor) -> dict[str, Tensor]:
    """The null (unconditional) inputs for classifier-free guidance: photo, pose and proxy zeroed (shapes
    kept), the ray map unchanged."""
    return {k: torch.zeros_like(t) if k in DROPPED_BY_NULL else t for k, t in cond.items()}


def drop_condition(cond: dict[str, Tensor], p: float, generator: torch.Generator) -> dict[str, Tensor]:
    """Each object's photo, pose and proxy replaced together by the null condition with probability p."""
    b = cond["photo"].shape[0]
    keep = (torch.rand(b, generator=generator, device=cond["photo"].device) >= p).to(cond["photo"].dtype)  # [B]
    return {k: t * keep.view(b, *([1] * (t.ndim - 1))) if k in DROPPED_BY_NULL else t for k, t in cond.items()}


@contextlib.contextmanager
def _seeded(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
