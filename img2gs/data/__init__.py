"""Training data of the view generator: procedural objects and mesh folders rendered by the framing
contract into safetensors shards (`img2gs data build`), and the reader the trainers use."""

from img2gs.data.build import build_dataset, plan_objects
from img2gs.data.config import DataBuildConfig
from img2gs.data.dataset import ViewDataset, ViewDatasets, load_shards
from img2gs.data.shards import read_meta, read_shard

__all__ = ["DataBuildConfig", "ViewDataset", "ViewDatasets", "build_dataset", "load_shards", "plan_objects", "read_meta",
           "read_shard"]
