"""Offline training: rosbag2 demos -> keypoint QA datasets -> SFT warm-up -> GRPO -> evaluation.

Everything the reasoning node uses at run time is imported, never copied: prompts and QA building
(``core.prompts``, ``core.qa``), the answer grammar (``core.parsing``), the rewards
(``core.rewards``, passed to TRL's ``GRPOTrainer`` as the very same function objects) and the
model runtime (``model``). Modules:

- :mod:`~robot_r1_ros.training.recipe`: the recipe YAML (model, data, rewards + weights, LoRA,
  SFT and GRPO settings) and its translation into TRL's ``SFTConfig`` / ``GRPOConfig``.
- :mod:`~robot_r1_ros.training.dataset`: ``robot-r1 dataset``, bags -> Hugging Face dataset.
- :mod:`~robot_r1_ros.training.sft`: ``robot-r1 sft``, the format warm-up (TRL ``SFTTrainer``).
- :mod:`~robot_r1_ros.training.grpo`: ``robot-r1 train``, GRPO (TRL ``GRPOTrainer``).
- :mod:`~robot_r1_ros.training.evaluate`: ``robot-r1 eval``, accuracy with baselines, L1, format
  failures, closed-loop success, JSON + PNG + markdown report.
- :mod:`~robot_r1_ros.training.runlog`: checkpoint discovery, JSON-lines log, graceful stop.

No module here imports rclpy (``test/test_layering.py``).
"""
