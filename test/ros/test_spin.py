"""spin_until_shutdown: an error raised by a shutdown in progress ends the spin quietly (the Jazzy
Ctrl-C race that made the bringup exit 1); the same error while the context is ok propagates."""
import pytest


def _spin_with_timer(rclpy_node, callback):
    from rclpy.executors import SingleThreadedExecutor

    from robot_r1_ros.ros.spin import spin_until_shutdown
    node = rclpy_node('spin_test')
    node.create_timer(0.01, callback)
    executor = SingleThreadedExecutor(context=rclpy_node.context)
    executor.add_node(node)
    try:
        spin_until_shutdown(executor, context=rclpy_node.context)
    finally:
        executor.shutdown()


def test_error_after_shutdown_ends_the_spin(rclpy_node):
    calls = []

    def shut_down_then_fail():
        calls.append(1)
        rclpy_node.context.shutdown()
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    _spin_with_timer(rclpy_node, shut_down_then_fail)
    assert calls == [1]
    assert not rclpy_node.context.ok()


def test_error_just_before_the_shutdown_completes_ends_the_spin(rclpy_node):
    """The take fails while the Ctrl-C handler is still shutting the context down: the context
    reads ok at the error and stops being ok a moment later (seen on Kilted under load)."""
    import threading

    def fail_then_shut_down():
        threading.Timer(0.2, rclpy_node.context.shutdown).start()
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    _spin_with_timer(rclpy_node, fail_then_shut_down)
    assert not rclpy_node.context.ok()


def test_error_while_running_propagates(rclpy_node):
    def fail():
        raise RuntimeError('a real fault')

    with pytest.raises(RuntimeError, match='a real fault'):
        _spin_with_timer(rclpy_node, fail)
    assert rclpy_node.context.ok()


@pytest.mark.parametrize('executor_kind', ['single', 'multi'])
def test_a_wake_up_consumed_before_the_shutdown_still_ends_the_spin(rclpy_node, executor_kind):
    """rclpy's signal thread on Ctrl-C: wake the executor (its SIGINT guard condition), then shut
    the context down in C, which wakes nothing. A node with nothing else ready (no timer) whose
    wait took the wake-up while the context still read ok then spun forever, and launch had to
    SIGTERM it (CI, both distributions). Here the same two steps, in that order, with a pause
    between them so the wake-up is surely consumed first: the spin must still end."""
    import threading
    import time

    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from std_msgs.msg import Empty

    from robot_r1_ros.ros.spin import SPIN_POLL_S, spin_until_shutdown
    context = rclpy_node.context
    node = rclpy_node('spin_wake_test')
    node.create_subscription(Empty, 'never_published', lambda _: None, 1)
    executor = (SingleThreadedExecutor(context=context) if executor_kind == 'single'
                else MultiThreadedExecutor(num_threads=2, context=context))
    executor.add_node(node)
    spinner = threading.Thread(target=spin_until_shutdown, args=(executor, context), daemon=True)
    spinner.start()
    time.sleep(0.3)                    # the spin is waiting
    executor.wake()                    # the signal thread's guard condition
    time.sleep(0.3)                    # the wait has taken it; the context still reads ok
    with context.handle:
        context.handle.shutdown()      # the C-level shutdown: no Python callback, no wake-up
    spinner.join(timeout=10 * SPIN_POLL_S + 2.0)
    assert not spinner.is_alive(), 'the spin missed the shutdown'
    assert not context.ok()
    executor.shutdown(timeout_sec=1.0)


def test_release_node_after_shutdown_ignores_teardown_errors(rclpy_node):
    from robot_r1_ros.ros.spin import release_node
    node = rclpy_node('release_test')
    closed = []

    def close():
        closed.append(1)
        raise RuntimeError('publisher context is invalid')

    rclpy_node.context.shutdown()          # Ctrl-C came first
    release_node(node, close, context=rclpy_node.context)
    assert closed == [1]


def test_release_node_while_running_propagates_and_still_shuts_down(rclpy_node):
    from robot_r1_ros.ros.spin import release_node
    node = rclpy_node('release_test')

    def close():
        raise RuntimeError('a real fault')

    with pytest.raises(RuntimeError, match='a real fault'):
        release_node(node, close, context=rclpy_node.context)
    assert not rclpy_node.context.ok()


def test_a_node_that_gets_sigterm_writes_every_threads_stack_then_exits(spawn):
    """launch sends SIGTERM to a node still running ``sigterm_timeout`` after SIGINT: the node
    first writes where each thread is (faulthandler, chained to rclpy's handler), so a hang at
    shutdown leaves its stack in the launch output; rclpy's handler then ends the node."""
    import signal

    from r1_testing import require_ros_interfaces, wait_for
    require_ros_interfaces()
    node = spawn('robot_r1_ros.ros.reasoning_node', '--ros-args', '-r', '__ns:=/spin_test',
                 '-p', 'model.id:=scripted:valid?delay_s=0.05')
    assert wait_for(lambda: 'active: predicting' in node.output(), 60.0), node.output()[-3000:]
    node.popen.send_signal(signal.SIGTERM)
    node.popen.wait(30)
    out = node.output()
    assert 'most recent call first' in out, out[-3000:]
    assert 'in spin_until_shutdown' in out, out[-3000:]   # the main thread, spinning
    assert 'in _loop' in out, out[-3000:]                 # the prediction worker's thread


# A node's main in miniature: init_ros, then Ctrl-C either before the spin (model loading) or
# during a multi-threaded spin. It prints what the main thread saw.
_SIGINT_PROBE = '''
import os, signal, sys, threading, time
import rclpy
from rclpy.executors import MultiThreadedExecutor
from robot_r1_ros.ros.spin import init_ros, spin_until_shutdown
init_ros([])
if sys.argv[1] == 'loading':
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10.0)
        print('loading went on')
    except KeyboardInterrupt:
        # rclpy shuts the context down from its own signal thread, a moment later
        deadline = time.monotonic() + 5.0
        while rclpy.ok() and time.monotonic() < deadline:
            time.sleep(0.01)
        print('loading interrupted; context ok:', rclpy.ok())
    sys.exit(0)
node = rclpy.create_node('sigint_probe')
node.create_timer(0.001, lambda: None)
executor = MultiThreadedExecutor(num_threads=4)
executor.add_node(node)
spin_once = executor.spin_once


def watched_spin_once(*args, **kwargs):
    try:
        spin_once(*args, **kwargs)
    except KeyboardInterrupt:
        print('KeyboardInterrupt in the spin')
        raise


executor.spin_once = watched_spin_once
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
spin_until_shutdown(executor)
print('spin returned; context ok:', rclpy.ok())
'''


@pytest.mark.parametrize('phase', ['loading', 'spinning'])
def test_ctrl_c_interrupts_loading_but_only_shuts_a_spin_down(ros_env, phase):
    """Python's SIGINT handler raising KeyboardInterrupt inside a multi-threaded spin can leave
    concurrent.futures' idle-semaphore lock held, and the exit then hangs joining the pool (a
    Jazzy SIGTERM dump). After init_ros, Ctrl-C still interrupts work before the spin (model
    loading), and during the spin only shuts the context down: the spin returns by itself."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-c', _SIGINT_PROBE, phase], env=ros_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    expected = {'loading': 'loading interrupted; context ok: False',
                'spinning': 'spin returned; context ok: False'}[phase]
    assert out.stdout.strip() == expected, out.stdout + out.stderr
