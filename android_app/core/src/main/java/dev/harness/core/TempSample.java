package dev.harness.core;

import java.util.LinkedHashMap;
import java.util.Map;

/** One temperature reading, written by the runner as the JSON array [t_s, phase, {zone: celsius}]. */
public final class TempSample {
    public final double tS;
    public final String phase;
    public final Map<String, Double> zonesC;

    public TempSample(double tS, String phase, Map<String, Double> zonesC) {
        this.tS = tS;
        this.phase = phase;
        this.zonesC = new LinkedHashMap<>(zonesC);
    }
}
