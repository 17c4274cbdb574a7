package dev.harness.core;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonDeserializer;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonSerializer;
import java.util.LinkedHashMap;
import java.util.Map;

/** The one Gson set-up every type shares: nulls written (the runner writes "error": null), no HTML escaping. */
public final class Json {
    /** Kept equal to rpi/runner.py SCHEMA_VERSION; the contract tests compare it with the golden files. */
    public static final int SCHEMA_VERSION = 4;

    public static final Gson GSON = new GsonBuilder()
            .serializeNulls()
            .disableHtmlEscaping()
            .registerTypeAdapter(TempSample.class, (JsonSerializer<TempSample>) (s, type, ctx) -> {
                JsonArray a = new JsonArray();
                a.add(s.tS);
                a.add(s.phase);
                JsonObject zones = new JsonObject();
                s.zonesC.forEach(zones::addProperty);
                a.add(zones);
                return a;
            })
            .registerTypeAdapter(TempSample.class, (JsonDeserializer<TempSample>) (el, type, ctx) -> {
                if (!el.isJsonArray() || el.getAsJsonArray().size() != 3) {
                    throw new JsonParseException("a temperature reading is [t_s, phase, {zone: C}]");
                }
                JsonArray a = el.getAsJsonArray();
                Map<String, Double> zones = new LinkedHashMap<>();
                a.get(2).getAsJsonObject().entrySet().forEach(e -> zones.put(e.getKey(), e.getValue().getAsDouble()));
                return new TempSample(a.get(0).getAsDouble(), a.get(1).getAsString(), zones);
            })
            .create();

    private Json() {}
}
