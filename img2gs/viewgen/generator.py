"""The inference API of the view generator: one framed photo -> V posed novel views.

    gen = ViewGenerator.load("runs/student", device="cpu")
    views = gen.generate(photo, input_pose(), target_orbit(16), steps=1, seed=0)  # [16, R, R, 4]

All target views of a call go through the network together, as one object of V views (one batched
forward pass per sampler evaluation), so cross-view attention makes them agree. A student checkpoint
samples with multistep consistency sampling (Song et al. 2023, Alg. 1; steps = 1 is one forward pass);
a teacher checkpoint with EDM's Heun sampler over `steps` noise levels (2 * steps - 1 evaluations,
twice the batch with classifier-free guidance).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.cameras import FOV_DEG, OrbitPose, intrinsics_from_fov, poses_c2w, poses_tensor, relative_pose_encoding
from img2gs.errors import ImageInputError
from img2gs.image_io import resize_rgba
from img2gs.model_cache import load_once
from img2gs.paths import resolve_model_dir
from img2gs.posed_views import PosedViews
from img2gs.proxy.render import ProxyRender
from img2gs.viewgen.batches import decode_views, encode_photo, encode_proxy, view_rays
from img2gs.viewgen.checkpoint import CheckpointInfo, load_checkpoint
from img2gs.viewgen.network import null_condition
from img2gs.viewgen.precond import Denoiser
from img2gs.viewgen.sampler import consistency_sampler, edm_sampler
from img2gs.viewgen.schedule import karras_sigmas

MAX_VIEWS = 64


@dataclass
class ViewGenerator:
    """A loaded checkpoint ready to sample. Build with `ViewGenerator.load`."""

    denoiser: Denoiser  # "edm" for a teacher, "consistency" for a student
    info: CheckpointInfo
    device: torch.device

    @classmethod
    def load(cls, checkpoint_dir: str | os.PathLike | None = None,
             device: torch.device | str = "cpu") -> "ViewGenerator":
        """Load a checkpoint or run folder; None = the default model (see img2gs.paths)."""
        checkpoint_dir = resolve_model_dir(checkpoint_dir)
        device = torch.device(device)
        net, info = load_checkpoint(checkpoint_dir, device)
        m = info.model
        parameterization = "consistency" if info.kind == "student" else "edm"
        return cls(Denoiser(net, m.sigma_data, m.sigma_min, parameterization), info, device)

    @classmethod
    def cached(cls, checkpoint_dir: str | os.PathLike, device: torch.device | str = "cpu") -> "ViewGenerator":
        """`load`, once per (folder, device) and process: a batch's photos share the loaded model."""
        return load_once("view generator", checkpoint_dir, device, lambda: cls.load(checkpoint_dir, device))

    @property
    def resolution(self) -> int:
        return self.info.model.resolution

    @property
    def kind(self) -> str:
        return self.info.kind

    def default_steps(self) -> int:
        return int(self.info.sampling.get("steps", 1 if self.kind == "student" else 25))

    @property
    def needs_proxy(self) -> bool:
        """True for a model conditioned per pixel on the lifted proxy's renders (`generate(proxy=...)`)."""
        return self.info.model.proxy_conditioning

    @torch.no_grad()
    def generate(self, photo: Tensor, input_pose: OrbitPose, target_poses: list[OrbitPose], steps: int | None = None,
                 seed: int = 0, guidance: float | None = None, proxy: ProxyRender | None = None) -> Tensor:
        """Views [V, R, R, 4] in [0, 1] (straight alpha, R = model resolution) of the object in `photo`.

        photo: [H, W, 4] float in [0, 1], already framed (img2gs.pipeline.preprocess); resized to R.
        steps: consistency steps (student, 1-4 typical) or Heun noise levels (teacher); None = the
        checkpoint's default. guidance: classifier-free guidance weight of a teacher (None = default).
        proxy: the lifted proxy rendered at `target_poses` (any size; img2gs.proxy.render_proxy), needed
        when `needs_proxy`.
        """
        _check_photo(photo)
        if not 1 <= len(target_poses) <= MAX_VIEWS:
            raise ValueError(f"need 1..{MAX_VIEWS} target poses, got {len(target_poses)}")
        steps = self.default_steps() if steps is None else int(steps)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        r, v = self.resolution, len(target_poses)
        pose = relative_pose_encoding(poses_tensor([input_pose]), poses_tensor(target_poses))  # [V, 4]
        cond = {"photo": encode_photo(photo.float().to(self.device), r)[None],  # [1, 3, R, R]
                "pose": pose[None].to(self.device)}  # [1, V, 4]
        if self.needs_proxy:
            cond.update(self._proxy_condition(proxy, input_pose, target_poses))
        elif proxy is not None:
            raise ValueError("this generator is not conditioned on the proxy; do not pass one")
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        noise = torch.randn((1, v, 4, r, r), generator=generator, device=self.device)
        x = self._sample(noise, cond, steps, guidance, generator)  # [1, V, 4, R, R]
        if self.info.model.residual_on_proxy:
            x = x + cond["proxy"][:, :, :4]  # the sample is the residual on the proxy's render
        return decode_views(x[0]).cpu()

    def _proxy_condition(self, proxy: ProxyRender | None, input_pose: OrbitPose,
                         target_poses: list[OrbitPose]) -> dict[str, Tensor]:
        if proxy is None:
            raise ValueError("this generator is conditioned on the lifted proxy: pass its render at the target poses")
        if proxy.rgba.shape[0] != len(target_poses):
            raise ValueError(f"the proxy render has {proxy.rgba.shape[0]} views for {len(target_poses)} target poses")
        r = self.resolution
        rays = view_rays(poses_tensor([input_pose])[0], poses_tensor(target_poses), r)  # [V, 6, R, R]
        return {"proxy": encode_proxy(proxy, r)[None].to(self.device), "rays": rays[None].to(self.device)}

    def _sample(self, noise: Tensor, cond: dict, steps: int, guidance: float | None, generator) -> Tensor:
        m = self.info.model
        if self.kind == "student":
            # steps noise levels rho-spaced from sigma_max (Karras eq. 5), sigma_min excluded
            sigmas = karras_sigmas(steps + 1, m.sigma_min, m.sigma_max)[:-1]
            return consistency_sampler(self.denoiser, noise, sigmas, sigma_min=m.sigma_min, cond=cond,
                                       generator=generator)
        w = float(self.info.sampling.get("guidance", 1.0) if guidance is None else guidance)
        sigmas = karras_sigmas(steps, m.sigma_min, m.sigma_max)
        uncond = null_condition(**cond) if w != 1.0 else None
        return edm_sampler(self.denoiser, noise, sigmas, heun=True, guidance=w, cond=cond, uncond=uncond,
                           generator=generator)

    def generate_posed_views(self, photo: Tensor, input_pose: OrbitPose, target_poses: list[OrbitPose],
                             steps: int | None = None, seed: int = 0, guidance: float | None = None,
                             proxy: ProxyRender | None = None) -> PosedViews:
        """The input photo (frame 0, resized to R) and the generated views, with cameras (img2gs.cameras)."""
        views = self.generate(photo, input_pose, target_poses, steps, seed, guidance, proxy)  # [V, R, R, 4]
        r = self.resolution
        images = torch.cat([resize_rgba(photo.float(), r)[None], views])  # [V + 1, R, R, 4]
        poses = [input_pose, *target_poses]
        K = intrinsics_from_fov(FOV_DEG, r, r).expand(len(poses), 3, 3).clone()
        names = ["images/input.png"] + [f"images/view_{i:03d}.png" for i in range(len(target_poses))]
        return PosedViews(images=images.clamp(0, 1), c2w=poses_c2w(poses), K=K, names=names)



def _check_photo(photo: Tensor) -> None:
    if photo.ndim != 3 or photo.shape[-1] != 4:
        raise ImageInputError(f"the photo must be an RGBA image [H, W, 4], got shape {tuple(photo.shape)}")
    if not torch.isfinite(photo).all():
        raise ImageInputError("the photo contains NaN or Inf values")
