package dev.harness.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The evaluation pass: the host's raw float32 in, the outputs as the phone computed them out. */
public class EvalPassTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    private static byte[] le(float... xs) {
        ByteBuffer b = ByteBuffer.allocate(xs.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : xs) {
            b.putFloat(x);
        }
        return b.array();
    }

    /** Sum and max of each sample: output shape [1, 2]. */
    private static final EvalPass.Model SUM_MAX = new EvalPass.Model() {
        @Override
        public float[] predict(float[] x) {
            float sum = 0;
            float max = Float.NEGATIVE_INFINITY;
            for (float v : x) {
                sum += v;
                max = Math.max(max, v);
            }
            return new float[] {sum, max};
        }

        @Override
        public int[] outputShape() {
            return new int[] {1, 2};
        }
    };

    @Test
    public void outputsAreWrittenIntoAFolderThatDidNotExist() throws IOException {
        File in = tmp.newFile("eval.f32");
        Files.write(in.toPath(), le(1, 2, 3, 4, 5, 6));
        File out = new File(tmp.getRoot(), "fresh/harness/result-ab.outputs.f32");
        assertFalse(out.getParentFile().exists());
        EvalPass.Written w = EvalPass.run(new EvalInputs(in.getPath(), Arrays.asList(1, 3), 2), new int[] {1, 3},
                SUM_MAX, out);
        assertEquals(Arrays.asList(2, 1, 2), w.shape);
        assertArrayEquals(le(6, 3, 15, 6), Files.readAllBytes(out.toPath()));
        assertEquals(1, out.getParentFile().list().length); // no .part left behind
    }

    @Test(expected = IllegalArgumentException.class)
    public void aShapeThatIsNotTheModelsIsRefused() throws IOException {
        File in = tmp.newFile("eval.f32");
        Files.write(in.toPath(), le(1, 2, 3, 4, 5, 6));
        EvalPass.run(new EvalInputs(in.getPath(), Arrays.asList(1, 3), 2), new int[] {1, 4}, SUM_MAX,
                new File(tmp.getRoot(), "o.f32"));
    }

    @Test(expected = IllegalArgumentException.class)
    public void aFileOfTheWrongSizeIsRefused() throws IOException {
        File in = tmp.newFile("eval.f32");
        Files.write(in.toPath(), le(1, 2, 3, 4, 5));
        EvalPass.run(new EvalInputs(in.getPath(), Arrays.asList(1, 3), 2), new int[] {1, 3}, SUM_MAX,
                new File(tmp.getRoot(), "o.f32"));
    }

    @Test
    public void int8RoundTripsThroughTheTensorsScaleAndZeroPoint() {
        // TFLite's affine quantization: q = round(x / scale) + zero_point, clamped to the type's range.
        assertEquals(-128 + 51, EvalPass.quantize(0.2f, 1 / 255f, -128, false));
        assertEquals(127, EvalPass.quantize(5f, 1 / 255f, -128, false));
        assertEquals((byte) 255, EvalPass.quantize(1f, 1 / 255f, 0, true));
        assertEquals(0.2f, EvalPass.dequantize((byte) (-128 + 51), 1 / 255f, -128, false), 1e-6f);
        assertEquals(1f, EvalPass.dequantize((byte) 255, 1 / 255f, 0, true), 1e-6f);
    }
}
