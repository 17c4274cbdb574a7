package dev.harness.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Accuracy on the phone: the host's held-out inputs (raw little-endian float32, count samples of shape) each
 * predicted by the model as it runs on the phone (GPU fp16, NNAPI, int8 kernels), every output appended to a
 * raw float32 file the host pulls and scores, as the iOS app does (converters/device_eval.py).
 */
public final class EvalPass {
    /** A model behind the smallest interface the pass needs: LiteRT on the phone, a plain function in tests. */
    public interface Model {
        /** The output for one sample of the model's single input (floats, batch 1), as floats. */
        float[] predict(float[] input) throws IOException;

        /** The shape of one output, batch included. */
        int[] outputShape();
    }

    /** Where the outputs went and their shape: [count] + one output's shape. */
    public static final class Written {
        public final File file;
        public final List<Integer> shape;

        Written(File file, List<Integer> shape) {
            this.file = file;
            this.shape = shape;
        }
    }

    private EvalPass() {}

    public static Written run(EvalInputs eval, int[] inputShape, Model model, File outputs) throws IOException {
        int per = 1;
        for (int d : eval.shape) {
            per *= d;
        }
        int want = 1;
        for (int d : inputShape) {
            want *= d;
        }
        if (per != want || per <= 0) {
            throw new IllegalArgumentException("eval_shape " + eval.shape + " does not match the model's input "
                    + Arrays.toString(inputShape));
        }
        File in = new File(eval.path);
        long bytes = in.length();
        if (!in.isFile() || bytes != (long) eval.count * per * 4) {
            throw new IllegalArgumentException("eval_path holds " + bytes + " bytes, not " + eval.count + " samples of "
                    + per + " float32");
        }
        File dir = outputs.getAbsoluteFile().getParentFile();
        if (dir != null && !dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File part = new File(dir, "." + outputs.getName() + ".part");
        int[] outShape = model.outputShape();
        int outCount = 1;
        for (int d : outShape) {
            outCount *= d;
        }
        try (RandomAccessFile src = new RandomAccessFile(in, "r"); OutputStream out = new FileOutputStream(part)) {
            byte[] raw = new byte[per * 4];
            float[] sample = new float[per];
            ByteBuffer ob = ByteBuffer.allocate(outCount * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (int s = 0; s < eval.count; s++) {
                src.readFully(raw);
                ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(sample);
                float[] y = model.predict(sample);
                if (y.length != outCount) {
                    throw new IllegalStateException("the model gave " + y.length + " values for output shape "
                            + Arrays.toString(outShape));
                }
                ob.clear();
                ob.asFloatBuffer().put(y);
                out.write(ob.array());
            }
        }
        if (!part.renameTo(outputs)) {
            throw new IOException("cannot rename " + part + " to " + outputs);
        }
        List<Integer> shape = new ArrayList<>();
        shape.add(eval.count);
        for (int d : outShape) {
            shape.add(d);
        }
        return new Written(outputs, shape);
    }

    /** A float input as an int8 / uint8 tensor holds it: round(x / scale) + zero point, clamped. */
    public static byte quantize(float x, float scale, int zeroPoint, boolean unsigned) {
        long q = Math.round(x / scale) + zeroPoint;
        long lo = unsigned ? 0 : -128;
        long hi = unsigned ? 255 : 127;
        return (byte) Math.max(lo, Math.min(hi, q));
    }

    /** The float an int8 / uint8 output stands for: (q - zero point) * scale. */
    public static float dequantize(byte q, float scale, int zeroPoint, boolean unsigned) {
        int v = unsigned ? (q & 0xff) : q;
        return (v - zeroPoint) * scale;
    }
}
