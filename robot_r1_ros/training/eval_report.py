"""The report of ``robot-r1 eval``: training curves, markdown tables and PNG plots."""
from __future__ import annotations

import collections
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from robot_r1_ros.core.parsing import OPTION_LETTERS
from robot_r1_ros.training import baselines, image_gap, runlog
from robot_r1_ros.training.eval_scoring import INVALID, OPEN_KINDS

_LOG = logging.getLogger(__name__)


def training_curves(run_dirs: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Series from the runs' ``log.jsonl``: SFT loss, GRPO rewards (total and per function),
    training and held-out (``eval_*``) accuracy, per step."""
    curves: dict[str, Any] = {}
    for run in run_dirs:
        records = runlog.read_jsonl(Path(run) / runlog.LOG_NAME)
        if not records:
            _LOG.warning('no %s in %s', runlog.LOG_NAME, run)
            continue
        phase = records[0].get('phase', 'train')
        series: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
        for r in records:
            for k, v in r.items():
                if k in ('step', 'epoch', 'time_s', 'phase') or not isinstance(v, (int, float)):
                    continue
                if k == 'loss' or k == 'reward' or k.startswith(('rewards/', 'eval_')) or \
                        k in ('completions/mean_length', 'entropy', 'kl'):
                    if isinstance(v, float) and not math.isfinite(v):
                        continue
                    series[k].append((int(r['step']), float(v)))
        curves[f'{phase}:{Path(run).name}'] = {'phase': phase, 'run_dir': str(run),
                                               'series': dict(series),
                                               'steps': max(int(r['step']) for r in records),
                                               'wall_s': max(float(r.get('time_s') or 0)
                                                             for r in records)}
    return curves


def report_examples(records: Sequence[dict[str, Any]], per_group: int = 2
                    ) -> list[dict[str, Any]]:
    """The first ``per_group`` records of each group (the report's examples)."""
    seen: dict[str, int] = collections.Counter()
    out = []
    for r in records:
        if seen[r['group']] < per_group:
            seen[r['group']] += 1
            out.append(r)
    return out


def pct(value: Any) -> str:
    """A fraction as a percentage cell ('–' for None)."""
    return '–' if value is None else f'{100.0 * value:.1f} %'


def num(value: Any, fmt: str = '.1f') -> str:
    """A number cell ('–' for None)."""
    return '–' if value is None else format(value, fmt)


def _distractors(group: dict[str, Any]) -> str:
    """The distractor column of a multiple-choice row (a subgroup says what it keeps)."""
    kind = group['distractor_kind'] or 'adjacent labels'
    return f'{kind}, answer leaves the gripper x-y' if group.get('subgroup_of') else kind


def _by_letter(group: dict[str, Any]) -> str:
    """``80/45/90/70``: a group's accuracy (per cent) on the rows of each gold letter."""
    by = group.get('accuracy_by_gold_letter') or {}
    return '/'.join('–' if by.get(x) is None else f'{100.0 * by[x]:.0f}'
                    for x in OPTION_LETTERS)


def markdown_tables(report: dict[str, Any]) -> str:
    """The multiple-choice and open-ended tables (also used by the model card)."""
    lines = ['| task | distractors | n | accuracy | chance | best constant letter | '
             'text-only rule | accuracy minus best baseline | format failures | '
             'mean think (chars) | predicted A/B/C/D/invalid | the stated aim\'s answer | '
             'answer after a right aim | accuracy by gold letter A/B/C/D |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|']
    open_lines = []
    for key, g in report['groups'].items():
        b = g.get('baselines', {})
        if g['task_kind'] in OPEN_KINDS:
            # A place subgroup names the kind of object asked for (``object_position/cube``).
            asked = f', {key.rsplit("/", 1)[-1]}s asked' if g.get('subgroup_of') else ''
            open_lines.append(
                f'| {g["task_kind"]}{asked} | {g["n"]} | {num(g.get("l1_cm_mean"))} | '
                f'{num(g.get("l1_cm_median"))} | {pct(g.get("gripper_accuracy"))} | '
                f'{num(b.get("text_only_l1_cm"))} | {pct(b.get("text_only_gripper_acc"))} | '
                f'{num(b.get("copy_current_l1_cm"))} | {pct(g.get("names_object_rate"))} | '
                f'{pct(g.get("states_current_rate"))} | {pct(g["format_failure_rate"])} |')
            continue
        const = b.get('constant', {})
        pred = g['predicted_letters']
        hist = '/'.join(str(pred[x]) for x in (*OPTION_LETTERS, INVALID))
        best = max(v for v in (b.get('chance'), const.get('accuracy'), b.get('text_only'))
                   if v is not None)
        lines.append(
            f'| {g["task_kind"]} | {_distractors(g)} | {g["n"]} | '
            f'**{pct(g["accuracy"])}** | {pct(b.get("chance"))} | '
            f'{pct(const.get("accuracy"))} ({const.get("letter", "–")}) | '
            f'{pct(b.get("text_only"))} | {100.0 * (g["accuracy"] - best):+.1f} pts | '
            f'{pct(g["format_failure_rate"])} | '
            f'{num(g.get("mean_think_chars"), ".0f")} | {hist} | '
            f'{pct(g.get("aim_implied_accuracy"))} | '
            f'{pct(g.get("accuracy_given_right_aim"))} | {_by_letter(g)} |')
    text = '\n'.join(lines)
    if open_lines:
        text += ('\n\n| task | n | L1 mean (cm) | L1 median (cm) | gripper acc. | text-only L1 '
                 '(cm) | text-only gripper | copy-current L1 (cm) | reasoning names the asked '
                 'object | reasoning states the current position | format failures |\n'
                 '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
                 + '\n'.join(open_lines))
    if report.get('open_keypoint_by_phase'):
        text += '\n\n' + phase_table(report['open_keypoint_by_phase'])
    return text


def phase_table(by_phase: dict[str, dict[str, Any]]) -> str:
    """The open keypoint per demo phase (``eval_scoring.open_keypoint_by_phase``)."""
    lines = ['| open keypoint, phase (target keyframe) | n | L1 mean (cm) | L1 median (cm) | '
             'gripper acc. | reasoning states the current position | format failures |',
             '|---|---:|---:|---:|---:|---:|---:|']
    for phase, m in by_phase.items():
        lines.append(f'| {phase} | {m["n"]} | {num(m["l1_cm_mean"])} | '
                     f'{num(m["l1_cm_median"])} | {pct(m["gripper_accuracy"])} | '
                     f'{pct(m.get("states_current_rate"))} | '
                     f'{pct(m["format_failure_rate"])} |')
    return '\n'.join(lines)


def closed_loop_table(cl: dict[str, Any]) -> str:
    """The closed-loop table (model vs scripted expert on the same seeds)."""
    expert = cl.get('expert') or {}
    return ('| task | seeds | model success | scripted expert | episodes ending in a format '
            'failure | keypoints rejected by the executor | mean keypoints executed |\n'
            '|---|---:|---:|---:|---:|---:|---:|\n'
            f'| {cl["task"]} | {cl["episodes"]} ({cl["seeds"][0]}..{cl["seeds"][-1]}) | '
            f'{pct(cl["success_rate"])} | {pct(expert.get("success_rate"))} | '
            f'{cl["format_failure_episodes"]} | {cl.get("rejected_keypoints", 0)} | '
            f'{num(cl.get("mean_keypoints"))} |' + _ended_line(cl)
            + _aim_line(cl.get('first_keypoint_aim'))
            + _follow_line(cl.get('cube_follow')))


def _ended_line(cl: dict[str, Any]) -> str:
    """How far the episodes got (cube lifted) and what ended them, as a sentence."""
    ended = cl.get('ended_by')
    if not ended or cl.get('lifted_episodes') is None:
        return ''
    return (f'\n\nThe task\'s cube was lifted off the table in {cl["lifted_episodes"]} of '
            f'{cl["episodes"]} episodes. Episodes ended by: task success {ended["success"]}, '
            f'a rejected keypoint {ended["rejected"]}, an answer without a keypoint '
            f'{ended["no_keypoint"]}, the keypoint budget {ended["budget"]}.'
            + (f' In {cl["dragged_episodes"]} the cube reached the goal without leaving the '
               'table (slid along it): not counted as success.'
               if cl.get('dragged_episodes') else ''))


def _follow_line(follow: dict[str, Any] | None) -> str:
    """The cube-follow probe (``cube_follow.follow_summary``), as a sentence."""
    if not follow:
        return ''
    return (f'\n\nCube follow (the task\'s cube moved >= {follow["min_move_m"] * 100:.0f} cm '
            f'between two first-keypoint questions, nothing else changed): the first keypoint '
            f'followed it in {follow["follows"]} of {follow["episodes"]} seeds (both answers '
            f'within {follow["near_m"] * 100:.0f} cm of their cube), the answer moved at all in '
            f'{follow["answer_moved"]} of {follow["answered"]} answered; median share of the '
            f'cube\'s move it followed {num(follow["median_along"], ".2f")}, median distance to the '
            f'cube {num(follow["median_to_cube_cm"])} cm.')


def _aim_line(aim: dict[str, Any] | None) -> str:
    """Where the first keypoints went (``closed_loop.aim_summary``), as a sentence."""
    if not aim:
        return ''
    c = aim['aimed_at']
    return (f'\n\nFirst keypoint nearest (x-y) to the task\'s object in {c["task_object"]} of '
            f'{aim["episodes"]} episodes (median distance {num(aim["task_object_median_cm"])} '
            f'cm, {aim["within_2cm"]} within 2 cm), to another object in {c["other_object"]}, '
            f'to the zone in {c["zone"]}; {aim.get("distinct_xy", "?")} different first '
            f'keypoints (x-y, whole cm).')


def markdown_report(report: dict[str, Any]) -> str:
    """``report.md``: what was evaluated, the tables and the plots."""
    o = report['overall']
    parts = [f'# Evaluation of `{report["model"]}`', '',
             f'Split `{report["split"]}` of `{report["dataset"]}`: {report["n_rows"]} questions '
             f'from {len(report["episodes"])} held-out episodes. Greedy decoding, '
             + ('with the reasoning node\'s answer constraint'
                if report['settings'].get('constrained') else 'no answer constraint')
             + f'. Overall format failures: {pct(o["format_failure_rate"])}; mean '
             f'reasoning length {num(o["mean_think_chars"], ".0f")} characters.', '',
             'Baselines: chance = 1/4; best constant letter = the share of the most frequent '
             'correct letter in the group (what a model stuck on one letter scores); text-only '
             'rule = nearest-neighbour rules on the train split that never see the image. The '
             'stated aim\'s answer = how often the option nearest (x-y) to the aim the '
             'reasoning states (`Next: ... [x, y]`) is the right one, over the answers that '
             'state an aim: reading the scene apart from comparing the aim with the options. '
             'The answer after a right aim = the accuracy over those whose aim is right (the '
             'letter the reasoning matches to it); by gold letter = the accuracy on the rows '
             'whose right answer is A, B, C, D.',
             '',
             markdown_tables(report)]
    if report.get('image_gap'):
        parts += ['', '## Image gap: the same questions with another image', '',
                  'The real image, an image of another held-out episode (a model that scores '
                  'the same with it does not read the scene) and a blank grey image (only a '
                  'fragility check).', '', image_gap.markdown(report['image_gap']['table'])]
    if 'closed_loop' in report:
        parts += ['', '## Closed loop in the MuJoCo scene', '',
                  closed_loop_table(report['closed_loop']), '',
                  f'Controller: {report["closed_loop"]["controller"]}.']
    if report.get('plots'):
        parts += ['', '## Plots', ''] + [f'![{Path(p).stem}]({Path(p).name})'
                                         for p in report['plots']]
    return '\n'.join(parts) + '\n'


def write_plots(report: dict[str, Any], out: Path) -> list[str]:
    """PNG plots of the report; returns their paths."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    paths: list[str] = []
    mcq = [(k, g) for k, g in report['groups'].items() if g['task_kind'] not in OPEN_KINDS]
    if mcq:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(mcq) + 2), 4.2))
        x = np.arange(len(mcq))
        acc = [g['accuracy'] for _, g in mcq]
        const = [g['baselines']['constant']['accuracy'] for _, g in mcq]
        text = [g['baselines']['text_only'] for _, g in mcq]
        ax.bar(x - 0.27, acc, 0.27, label='model', color='tab:blue')
        ax.bar(x, const, 0.27, label='best constant letter', color='tab:gray')
        ax.bar(x + 0.27, text, 0.27, label='text-only rule', color='tab:orange')
        ax.axhline(baselines.CHANCE, color='k', ls='--', lw=1, label='chance')
        ax.set_xticks(x, [k.replace('/', '\n') for k, _ in mcq], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel('accuracy')
        ax.set_title(f'held-out accuracy ({report["split"]}, n per bar in report)')
        ax.legend(fontsize=8, loc='upper right')
        fig.tight_layout()
        paths.append(_save(fig, out / 'per_task_accuracy.png'))
        fig, axes = plt.subplots(1, len(mcq), figsize=(2.4 * len(mcq), 2.8), squeeze=False)
        for ax, (k, g) in zip(axes[0], mcq):
            labels = [*OPTION_LETTERS, INVALID]
            ax.bar(range(5), [g['predicted_letters'][lab] for lab in labels], color='tab:blue',
                   label='predicted')
            ax.plot(range(4), [g['gold_letters'][lab] for lab in OPTION_LETTERS], 'k_',
                    markersize=14, mew=2, label='correct')
            ax.set_xticks(range(5), ['A', 'B', 'C', 'D', 'inv'], fontsize=8)
            ax.set_title(k, fontsize=8)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, out / 'letter_histogram.png'))
    curves = report.get('curves') or {}
    grpo = [c for c in curves.values() if c['phase'] == 'grpo']
    sft = [c for c in curves.values() if c['phase'] == 'sft']
    if grpo or sft:
        fig, axes = plt.subplots(1, 2 if (grpo and sft) else 1, figsize=(10 if grpo and sft
                                                                        else 5.5, 3.8),
                                 squeeze=False)
        col = 0
        if sft:
            ax = axes[0][col]
            for c in sft:
                s = c['series'].get('loss', [])
                ax.plot([p[0] for p in s], [p[1] for p in s], label='SFT loss')
            ax.set_xlabel('SFT step')
            ax.set_ylabel('loss per completion token')
            ax.set_yscale('log')
            ax.set_title('SFT warm-up')
            ax.legend(fontsize=8)
            col += 1
        if grpo:
            ax = axes[0][col]
            for c in grpo:
                for key, label in (('reward', 'total reward'),
                                   ('rewards/format_reward/mean', 'format'),
                                   ('rewards/choice_accuracy_reward/mean', 'choice accuracy'),
                                   ('rewards/position_reward/mean', 'position'),
                                   ('rewards/gripper_reward/mean', 'gripper')):
                    s = c['series'].get(key, [])
                    if s:
                        ax.plot([p[0] for p in s], _smooth([p[1] for p in s]), label=label)
            ax.set_xlabel('GRPO step')
            ax.set_ylabel('mean reward (moving average)')
            ax.set_title('GRPO rewards')
            ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / 'reward_curve.png'))
    if grpo:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for c in grpo:
            s = c['series'].get('rewards/choice_accuracy_reward/mean', [])
            if s:
                ax.plot([p[0] for p in s], _smooth([p[1] for p in s]),
                        label='train (sampled, moving avg.)')
            s = c['series'].get('eval_rewards/choice_accuracy_reward/mean', [])
            if s:
                ax.plot([p[0] for p in s], [p[1] for p in s], 'o-', label='validation (sampled)')
        final = [g['accuracy'] for g in report['groups'].values()
                 if 'accuracy' in g and not g.get('subgroup_of')]
        if final:
            ax.axhline(float(np.mean(final)), color='tab:green', ls=':',
                       label=f'{report["split"]} greedy, mean of tasks')
        ax.axhline(baselines.CHANCE, color='k', ls='--', lw=1, label='chance')
        ax.set_ylim(0, 1.05)
        ax.set_xlabel('GRPO step')
        ax.set_ylabel('multiple-choice accuracy')
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / 'accuracy_curve.png'))
    return paths


def _smooth(values: Sequence[float], window: int = 10) -> list[float]:
    out, acc = [], collections.deque(maxlen=window)
    for v in values:
        acc.append(v)
        out.append(float(np.mean(acc)))
    return out


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


