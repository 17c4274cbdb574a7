package dev.harness.core;

import java.util.List;

/** The host's held-out inputs on the phone: raw little-endian float32, `count` samples of `shape`. */
public final class EvalInputs {
    public final String path;
    public final List<Integer> shape;
    public final int count;

    public EvalInputs(String path, List<Integer> shape, int count) {
        this.path = path;
        this.shape = shape;
        this.count = count;
    }
}
