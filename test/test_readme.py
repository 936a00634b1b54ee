"""The README opens with the two set-up commands, and its parameter tables match the nodes."""
import re

import pytest
from r1_testing import REPO

README = (REPO / 'README.md').read_text(encoding='utf-8')


def test_readme_opens_with_the_demo_and_test_commands_ci_runs():
    first_block = re.search(r'```bash\n(.*?)```', README, re.S).group(1)
    commands = [line.split('#')[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ['bash scripts/demo.sh', 'bash scripts/test.sh']
    assert 'bash scripts/test.sh' in (REPO / '.ci' / 'run').read_text()
    assert (REPO / 'scripts' / 'demo.sh').exists() and (REPO / 'scripts' / 'test.sh').exists()


@pytest.mark.parametrize('module', ['robot_r1_ros.ros.reasoning_params',
                                    'robot_r1_ros.ros.executor_params',
                                    'robot_r1_ros.ros.sim_params'])
def test_readme_documents_every_node_parameter(module):
    params = __import__(module, fromlist=['PARAMETERS']).PARAMETERS
    missing = [p.name for p in params if f'| `{p.name}` |' not in README]
    assert not missing, f'README lacks rows for {missing}; regenerate with python -m {module}'
