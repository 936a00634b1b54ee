"""Experiments E18/E19 (issue 13): give the small language model more layers without forgetting.

E16/E17 showed the 2-layer language model reading a coarse position from the vision tower and
stalling far above the tower's own accuracy. With two layers, the first can only gather the text
context (which object, which coordinate is next) and the second must both attend to the image
and turn what it read into a digit. This tool appends ``--add`` decoder layers to a checkpoint's
language model. Each new layer starts as the identity (its attention output projection and MLP
down projection are zero, so the residual stream passes through unchanged): the deepened model
answers exactly as the original until training moves the new layers.

    python experiments/tools/deepen_lm.py --model outputs/learn/e17_see_scenes_cont/final \\
        --add 2 --out outputs/learn/e19_deep/init

``--mlp N`` (E22) also widens every layer's MLP to N hidden units, the new ones starting silent
(their down-projection columns are zero), so again the answers do not change at step 0. E18/E19
showed the language model reading the tenths digit and guessing the hundredths: turning a
position feature into a 1 cm digit takes many more MLP units than 128 per layer.

``--hidden N`` (E26) widens the residual stream itself (64 -> N), with more heads of the same
size: the tiny stream has to carry the text context and a position read to 1 cm at once. New
dimensions start at zero (everything that writes into them is zero, the RMS norms are rescaled
for the wider mean), so again the answers do not change at step 0.

``--tower DIR`` also replaces the vision tower with the one of checkpoint ``DIR`` (same tower
size; E18: a tower pre-trained further with digit heads, ``training.vision_pretrain``).

The result is a plain ``Qwen2_5_VLForConditionalGeneration`` checkpoint (tokenizer and
processor files copied), loadable by the node and by ``training.curriculum``. The growing itself
is ``robot_r1_ros.training.grow_lm`` (the product's, also a learn recipe's ``grow:`` step); this
tool keeps E18-E26's command line.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from robot_r1_ros.training.grow_lm import GrowConfig, grow


def deepen(model_dir: Path, add: int, out: Path, tower: Path | None = None,
           mlp: int = 0, hidden: int = 0) -> Path:
    """Write ``model_dir`` with ``add`` identity-initialised decoder layers appended to ``out``
    (``mlp`` / ``hidden``: widened too; ``tower``: a checkpoint whose vision tower replaces
    ``model_dir``'s)."""
    return grow(model_dir, GrowConfig(add_layers=add, mlp=mlp, hidden=hidden), out, tower)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', required=True, type=Path)
    p.add_argument('--add', type=int, default=2)
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--mlp', type=int, default=0, help='widen every MLP to this many units')
    p.add_argument('--hidden', type=int, default=0,
                   help='widen the language model\'s residual stream to this width (more heads)')
    p.add_argument('--tower', type=Path, default=None,
                   help='a checkpoint whose vision tower replaces the model\'s')
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    deepen(args.model, args.add, args.out, args.tower, args.mlp, args.hidden)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
