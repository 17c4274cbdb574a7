"""Is the proxy's fp32 a fair baseline (benchmarks/ladder_baseline.py), and the flags of the int8 diagnosis script
(benchmarks/ladder_int8.py) and the fine-tune length experiment (benchmarks/ladder_tune.py): the verdict reads the
interval's low end, bad flags are one line and exit 2."""
from __future__ import annotations

from benchmarks import ladder_baseline as lb
from benchmarks import ladder_int8 as li
from benchmarks import ladder_tune as lt
from converters import detection_proxy
from harness.statistics.accuracy_change import PairedChange


def _ch(change: float, low: float, high: float) -> PairedChange:
    return PairedChange("mAP@0.5", "fp32", change, low, high, 500, 0.4 + change, 0.4, "500 held-out images")


def test_a_control_that_beats_fp32_beyond_doubt_says_fp32_has_not_converged():
    # the first round's proxy: 200 more steps gained +0.044 with the whole interval above 0
    assert lb.baseline_verdict(_ch(0.044, 0.031, 0.057)).startswith("fp32 not converged: the further fine-tune "
                                                                     "gains +0.044")
    fair = lb.baseline_verdict(_ch(0.004, -0.006, 0.014))
    assert fair.startswith("fp32 is a fair baseline") and "-0.006 to +0.014" in fair
    assert lb.baseline_verdict(_ch(-0.01, -0.02, 0.0)).startswith("fp32 is a fair baseline")


def test_the_proxy_recipe_has_a_second_phase_at_least_as_long_as_the_control_that_beat_it(monkeypatch):
    # 1000 steps left fp32 0.044 below its own 200-step control: the recipe goes on at the control's rate
    from converters import shipped
    from converters.zoo import get_spec

    assert detection_proxy.PROXY_FINISH_STEPS >= 200 and detection_proxy.PROXY_FINISH_LR < detection_proxy.PROXY_LR
    names = ("faster_rcnn_proxy", "faster_rcnn_proxy_400", "faster_rcnn", "srcnn")
    before = {n: shipped.recipe_identity(get_spec(n)) for n in names}
    for constant in ("PROXY_FINISH_STEPS", "PROXY_ANNEAL_STEPS", "PROXY_ANNEAL_LR"):
        monkeypatch.setattr(detection_proxy, constant, getattr(detection_proxy, constant) * 2)
        after = {n: shipped.recipe_identity(get_spec(n)) for n in names}
        assert after["faster_rcnn_proxy"] != before["faster_rcnn_proxy"], constant
        assert after["faster_rcnn_proxy_400"] != before["faster_rcnn_proxy_400"], constant  # tuned from those weights
        assert after["faster_rcnn"] == before["faster_rcnn"] and after["srcnn"] == before["srcnn"]
        before = after


def test_the_recipe_ends_with_an_annealing_phase_longer_than_the_two_before_it():
    # after 1000 + 400 steps a 200-step control still gained +0.038 (95% +0.032 to +0.045): the last phase is
    # longer than both, at no more than the first phase's rate, decayed to zero (the learning rates are checked on
    # a real tiny run below)
    p = detection_proxy
    assert p.PROXY_ANNEAL_STEPS > p.PROXY_STEPS + p.PROXY_FINISH_STEPS
    assert p.PROXY_FINISH_LR <= p.PROXY_ANNEAL_LR <= p.PROXY_LR


def test_the_600_px_recipe_trains_three_phases_and_the_smaller_sibling_only_its_fine_tune(monkeypatch):
    """Real training of a tiny proxy (128 px, 2-4 steps a phase): the phases that ran, in order, and the learning
    rate each ended at (the last phase anneals to zero; the others stop at 5 % of their rate)."""
    import tf_keras as keras

    from converters import progress, training
    from converters.zoo import get_spec

    monkeypatch.setattr(detection_proxy, "PROXY_STEPS", 2)
    monkeypatch.setattr(detection_proxy, "PROXY_FINISH_STEPS", 2)
    monkeypatch.setattr(detection_proxy, "PROXY_ANNEAL_STEPS", 4)
    monkeypatch.setattr(detection_proxy, "PROXY_TUNE_STEPS", 2)
    monkeypatch.setattr(detection_proxy, "PROXY_SIZE", 128)  # the size trained from scratch
    monkeypatch.delenv(training.RECIPE_ENV, raising=False)
    tiny = "@head_units=64@pre_nms=256@proposals=16"
    phases: list[tuple[str, int]] = []
    keras.utils.set_random_seed(0)
    big = get_spec(f"faster_rcnn_proxy@size=128{tiny}")
    model = big.create()
    start = [w.copy() for w in model.get_weights()]
    last_lr: dict[str, float] = {}

    class LastRate(keras.callbacks.Callback):
        def __init__(self, phase: str) -> None:
            super().__init__()
            self.phase = phase

        def on_train_end(self, logs=None):  # the phase's schedule where it ends (after its last step)
            opt = self.model.optimizer
            schedule = keras.optimizers.schedules.deserialize(opt.get_config()["learning_rate"])
            last_lr[self.phase] = float(schedule(opt.iterations))

    def callbacks(phase: str, steps: int) -> list:
        return [*progress.progress_callbacks(phase, steps), LastRate(phase)]

    with progress.reporting(lambda phase, done, total: phases.append((phase, total)) if done == 0 else None):
        detection_proxy.train_recipe(big, model, training.scaled, callbacks, lambda n: [])
        assert phases == [("train", 2), ("finish", 2), ("anneal", 4)]
        assert last_lr["anneal"] < 1e-9
        assert abs(last_lr["finish"] - 0.05 * detection_proxy.PROXY_FINISH_LR) < 1e-9
        assert any(not (a == b).all() for a, b in zip(start, model.get_weights()))
        small = get_spec(f"faster_rcnn_proxy@size=64{tiny}")
        phases.clear()
        detection_proxy.train_recipe(small, small.create(), training.scaled, progress.progress_callbacks,
                                     lambda n: model.get_weights())
        assert phases == [("fine-tune", 2)]


def test_bad_flags_are_one_line_and_exit_2(capsys):
    assert lb.main(["--steps", "0"]) == 2
    assert capsys.readouterr().err.strip() == "ladder_baseline: --steps 0: expected at least 1"
    assert lb.main(["--model", "srcnn"]) == 2
    assert "--model 'srcnn': not a faster_rcnn_proxy zoo model" in capsys.readouterr().err
    assert lb.main(["--model", "no_such_model\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err
    assert li.main(["--only", "int8,int4"]) == 2
    assert capsys.readouterr().err.strip().startswith("ladder_int8: --only 'int8,int4': expected some of fp32")
    assert li.main(["--runs", "0"]) == 2


def test_the_tune_length_experiment_s_bad_flags_are_one_line_and_exit_2(capsys):
    for argv, flag in ((["--steps", "100,x"], "--steps"), (["--steps", "0"], "--steps"), (["--flops", "1.5"], "--flops"),
                       (["--quant", "int4"], "--quant"), (["--images", "3"], "--images"),
                       (["--model", "srcnn\x1b[2J"], "--model")):
        assert lt.main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith(f"ladder_tune: {flag}") and "\x1b" not in err
