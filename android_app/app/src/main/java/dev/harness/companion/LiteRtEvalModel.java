package dev.harness.companion;

import dev.harness.core.EvalPass;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * LiteRT behind the evaluation pass's Model: one float sample in (quantized for an int8 / uint8 input with
 * the tensor's own scale and zero point), the first output back as floats (dequantized likewise). The pass
 * itself (reading the host's file, writing the outputs) is dev.harness.core.EvalPass, tested with JUnit.
 */
final class LiteRtEvalModel implements EvalPass.Model {
    private final Interpreter interp;

    LiteRtEvalModel(Interpreter interp) {
        this.interp = interp;
    }

    @Override
    public int[] outputShape() {
        return interp.getOutputTensor(0).shape();
    }

    @Override
    public float[] predict(float[] x) {
        Tensor in = interp.getInputTensor(0);
        ByteBuffer b = ByteBuffer.allocateDirect(in.numBytes()).order(ByteOrder.nativeOrder());
        DataType dt = in.dataType();
        if (dt == DataType.FLOAT32) {
            for (float v : x) {
                b.putFloat(v);
            }
        } else if (dt == DataType.INT8 || dt == DataType.UINT8) {
            Tensor.QuantizationParams q = in.quantizationParams();
            for (float v : x) {
                b.put(EvalPass.quantize(v, q.getScale(), q.getZeroPoint(), dt == DataType.UINT8));
            }
        } else {
            throw new IllegalStateException("the evaluation inputs are float32; the model's input is " + dt);
        }
        b.rewind();
        Map<Integer, Object> outs = new HashMap<>();
        for (int i = 0; i < interp.getOutputTensorCount(); i++) {
            outs.put(i, ByteBuffer.allocateDirect(interp.getOutputTensor(i).numBytes()).order(ByteOrder.nativeOrder()));
        }
        interp.runForMultipleInputsOutputs(new Object[] {b}, outs);
        Tensor out = interp.getOutputTensor(0);
        ByteBuffer o = (ByteBuffer) outs.get(0);
        o.rewind();
        int n = out.numElements();
        float[] y = new float[n];
        DataType ot = out.dataType();
        if (ot == DataType.FLOAT32) {
            o.asFloatBuffer().get(y);
        } else if (ot == DataType.INT8 || ot == DataType.UINT8) {
            Tensor.QuantizationParams q = out.quantizationParams();
            for (int i = 0; i < n; i++) {
                y[i] = EvalPass.dequantize(o.get(), q.getScale(), q.getZeroPoint(), ot == DataType.UINT8);
            }
        } else {
            throw new IllegalStateException("the model's first output is " + ot + ", not float32 or int8");
        }
        return y;
    }
}
