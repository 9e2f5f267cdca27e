"""Device helpers: the training memory layout."""

import torch

from img2gs.device import training_layout
from img2gs.viewgen.checkpoint import load_weights, save_weights


def test_training_layout_is_channels_last_on_cuda_only_and_checkpoints_ignore_it(tmp_path, monkeypatch):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 1))
    assert training_layout(net, torch.device("cpu")).state_dict()["0.weight"].is_contiguous()
    # what it does on CUDA, done on the CPU: the same values in NHWC strides
    nhwc = net.to(memory_format=torch.channels_last)
    weight = nhwc.state_dict()["0.weight"]
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    x = torch.randn(2, 3, 9, 9)
    save_weights(tmp_path / "w.safetensors", nhwc.state_dict())
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 1))
    plain.load_state_dict(load_weights(tmp_path / "w.safetensors"))
    torch.testing.assert_close(plain(x), nhwc(x), rtol=1e-5, atol=1e-6)
