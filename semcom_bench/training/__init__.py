"""What the trainers share (``evaluators/training.py``, ``diffusion/training.py``).

* :mod:`.scenes`: a data set's split rendered once into arrays, kept in an ``.npz`` cache keyed
  by the render spec (parallel workers, atomic write);
* :mod:`.provenance`: git commit, versions, device name, reproduce command and sha256 of the
  outputs, written as JSON beside a checkpoint;
* :mod:`.checkpoints`: the checkpoint files of a training folder, its latest step, saving and
  loading the weights, EMA and optimiser state, and restoring the random state to resume.

Importing this package does not import torch.
"""

from semcom_bench.training.checkpoints import (checkpoint_files, float16_state, latest_ema, latest_step, load_checkpoint,
                                               restore_generator, save_checkpoint)
from semcom_bench.training.provenance import (device_name, file_record, git_commit, provenance_path, reproduce_command,
                                              run_provenance, training_record, utc_date, versions, write_provenance)
from semcom_bench.training.scenes import FIELDS, create_dataset, default_data_cache, render_training_set, spec_key

__all__ = [
    "FIELDS", "checkpoint_files", "create_dataset", "default_data_cache", "device_name", "file_record", "float16_state",
    "git_commit", "latest_ema", "latest_step", "load_checkpoint", "provenance_path", "render_training_set",
    "reproduce_command", "restore_generator", "run_provenance", "save_checkpoint", "spec_key", "training_record",
    "utc_date", "versions", "write_provenance",
]
