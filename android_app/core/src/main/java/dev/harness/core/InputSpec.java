package dev.harness.core;

import com.google.gson.annotations.SerializedName;
import java.util.List;

/** One model input as the runner reports it: tensor name, shape and numpy dtype name (float32, int8, ...). */
public final class InputSpec {
    @SerializedName("name") public String name;
    @SerializedName("shape") public List<Integer> shape;
    @SerializedName("dtype") public String dtype;

    public InputSpec() {}

    public InputSpec(String name, List<Integer> shape, String dtype) {
        this.name = name;
        this.shape = shape;
        this.dtype = dtype;
    }
}
