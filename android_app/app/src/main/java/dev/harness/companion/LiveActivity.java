package dev.harness.companion;

import android.app.Activity;
import android.content.Intent;
import android.content.SharedPreferences;
import android.graphics.Color;
import android.graphics.Typeface;
import android.graphics.drawable.GradientDrawable;
import android.net.Uri;
import android.os.Bundle;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ProgressBar;
import android.widget.ScrollView;
import android.widget.TextView;
import com.google.gson.JsonArray;
import com.google.gson.JsonParser;
import dev.harness.core.LiveModel;
import dev.harness.core.SseClient;
import dev.harness.core.SseEvent;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;

/**
 * Follows a `harness serve` URL with cards like the live page: `harness serve --on-device SERIAL` opens it
 * with -d http://localhost:PORT/ (adb reverse), or the user types a LAN URL with its token. The model
 * (dev.harness.core.LiveModel) and the event client (SseClient, Last-Event-ID resume) are the JVM core's.
 */
public final class LiveActivity extends Activity {
    private static final String PREFS = "live";
    private final LiveModel model = new LiveModel();
    private SseClient client;
    private String base;
    private String token;
    private TextView conn;
    private TextView runLine;
    private TextView progress;
    private ProgressBar bar;
    private LinearLayout cards;
    private EditText urlField;

    @Override
    protected void onCreate(Bundle saved) {
        super.onCreate(saved);
        setContentView(buildViews());
        follow(urlFrom(getIntent()));
    }

    @Override
    protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        follow(urlFrom(intent));
    }

    @Override
    protected void onDestroy() {
        stopClient();
        super.onDestroy();
    }

    private String urlFrom(Intent intent) {
        Uri data = intent.getData();
        String url = data != null ? data.toString() : intent.getStringExtra("url");
        SharedPreferences prefs = getSharedPreferences(PREFS, MODE_PRIVATE);
        return url != null ? url : prefs.getString("url", null);
    }

    private void follow(String url) {
        if (url == null) {
            conn.setText("Run `harness serve --on-device SERIAL` on the host, or enter its URL");
            return;
        }
        Uri uri = Uri.parse(url);
        token = uri.getQueryParameter("token");
        base = uri.getScheme() + "://" + uri.getEncodedAuthority();
        urlField.setText(url);
        // The URL (not the token) is remembered, so the launcher icon reopens the last server.
        getSharedPreferences(PREFS, MODE_PRIVATE).edit()
                .putString("url", base + "/").apply();
        stopClient();
        new Thread(this::loadThenListen, "harness-live").start();
    }

    private void stopClient() {
        if (client != null) {
            client.stop();
            client = null;
        }
    }

    private void loadThenListen() {
        try {
            JsonArray runs = JsonParser.parseString(get("/api/runs")).getAsJsonArray();
            if (runs.size() > 0) {
                loadRun(runs.get(0).getAsJsonObject().get("run_id").getAsString());
            }
            SseClient c = new SseClient(new URL(base + "/api/events"), token, new SseClient.Listener() {
                @Override
                public void onEvent(SseEvent ev) {
                    String load;
                    synchronized (model) { // the UI thread renders the same model
                        load = model.apply(ev);
                    }
                    if (load != null) {
                        loadRun(load);
                    }
                    runOnUiThread(LiveActivity.this::render);
                }

                @Override
                public void onState(boolean connected, String why) {
                    runOnUiThread(() -> {
                        conn.setText(connected ? "● live" : "○ reconnecting (" + why + ")");
                        conn.setTextColor(connected ? Color.rgb(4, 120, 87) : Color.rgb(180, 83, 9));
                    });
                }
            });
            client = c;
            runOnUiThread(this::render);
            c.run();
        } catch (IOException | RuntimeException e) {
            final String why = e.getMessage();
            runOnUiThread(() -> conn.setText("cannot reach " + base + ": " + why));
        }
    }

    private void loadRun(String runId) {
        try {
            String json = get("/api/runs/" + Uri.encode(runId));
            synchronized (model) {
                model.loadRun(json);
            }
        } catch (IOException e) {
            // the next event tries again; what is on screen stays
        }
    }

    private String get(String path) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(base + path).openConnection();
        c.setRequestProperty("Cache-Control", "no-store");
        if (token != null) {
            c.setRequestProperty("Authorization", "Bearer " + token);
        }
        c.setConnectTimeout(10_000);
        c.setReadTimeout(30_000);
        try (InputStream in = c.getInputStream()) {
            return new String(readAll(in), StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[16384];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    // -- views --------------------------------------------------------------------------------
    private View buildViews() {
        LinearLayout root = new LinearLayout(this);
        root.setOrientation(LinearLayout.VERTICAL);
        root.setPadding(24, 48, 24, 24);
        TextView title = new TextView(this);
        title.setText("harness · live");
        title.setTextSize(22);
        title.setTypeface(Typeface.DEFAULT_BOLD);
        conn = new TextView(this);
        LinearLayout row = new LinearLayout(this);
        urlField = new EditText(this);
        urlField.setHint("http://localhost:8765/");
        urlField.setSingleLine(true);
        Button go = new Button(this);
        go.setText("Follow");
        go.setOnClickListener(v -> follow(urlField.getText().toString().trim()));
        row.addView(urlField, new LinearLayout.LayoutParams(0, LinearLayout.LayoutParams.WRAP_CONTENT, 1f));
        row.addView(go);
        runLine = new TextView(this);
        runLine.setTypeface(Typeface.MONOSPACE);
        bar = new ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal);
        bar.setMax(1000);
        progress = new TextView(this);
        cards = new LinearLayout(this);
        cards.setOrientation(LinearLayout.VERTICAL);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(cards);
        for (View v : new View[] {title, conn, row, runLine, bar, progress}) {
            root.addView(v);
        }
        root.addView(scroll, new LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f));
        return root;
    }

    private void render() {
        synchronized (model) {
            renderLocked();
        }
    }

    private void renderLocked() {
        runLine.setText((model.runId() == null ? "no run yet" : model.runId()) + " · " + model.status());
        bar.setProgress((int) Math.round(1000 * model.progressFraction()));
        progress.setText(model.progressText() + " · " + model.current());
        cards.removeAllViews();
        for (LiveModel.Card c : model.cards()) {
            cards.addView(cardView(c));
        }
    }

    private View cardView(LiveModel.Card c) {
        LinearLayout box = new LinearLayout(this);
        box.setOrientation(LinearLayout.VERTICAL);
        box.setPadding(28, 20, 28, 20);
        GradientDrawable bg = new GradientDrawable();
        bg.setCornerRadius(24);
        bg.setColor(Color.WHITE);
        int edge = !c.ok ? Color.rgb(185, 28, 28) : !c.valid ? Color.rgb(180, 83, 9) : Color.rgb(4, 120, 87);
        bg.setStroke(4, edge);
        box.setBackground(bg);
        TextView head = new TextView(this);
        head.setText(c.title + "   " + c.device);
        head.setTypeface(Typeface.DEFAULT_BOLD);
        TextView big = new TextView(this);
        big.setText(c.headline);
        big.setTextSize(c.ok ? 26 : 15);
        big.setTextColor(c.ok ? Color.BLACK : edge);
        box.addView(head);
        box.addView(big);
        if (!c.details.isEmpty()) {
            TextView more = new TextView(this);
            more.setText(c.details);
            box.addView(more);
        }
        if (!c.flags.isEmpty()) {
            TextView flags = new TextView(this);
            flags.setText(c.flags);
            flags.setTextColor(Color.rgb(180, 83, 9));
            box.addView(flags);
        }
        LinearLayout.LayoutParams lp = new LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT,
                LinearLayout.LayoutParams.WRAP_CONTENT);
        lp.setMargins(0, 12, 0, 12);
        box.setLayoutParams(lp);
        return box;
    }
}
