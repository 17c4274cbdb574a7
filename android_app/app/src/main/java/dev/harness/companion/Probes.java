package dev.harness.companion;

import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.os.BatteryManager;
import android.os.Build;
import android.os.Debug;
import android.os.PowerManager;
import dev.harness.core.AndroidReadings;
import java.io.BufferedReader;
import java.io.FileReader;
import java.io.FileWriter;
import java.io.IOException;

/** The platform's readings: battery (BatteryManager), thermal status and headroom (PowerManager), memory. */
final class Probes {
    private final Context context;
    private final BatteryManager battery;
    private final PowerManager power;

    Probes(Context context) {
        this.context = context;
        this.battery = (BatteryManager) context.getSystemService(Context.BATTERY_SERVICE);
        this.power = (PowerManager) context.getSystemService(Context.POWER_SERVICE);
    }

    private Intent batteryIntent() {
        return context.registerReceiver(null, new IntentFilter(Intent.ACTION_BATTERY_CHANGED));
    }

    AndroidReadings.Battery battery() {
        AndroidReadings.Battery b = new AndroidReadings.Battery();
        int capacity = battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY);
        b.levelPct = capacity == Integer.MIN_VALUE ? null : capacity;
        int current = battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW);
        b.currentUa = current == Integer.MIN_VALUE ? null : (long) current; // MIN_VALUE: not supported
        int counter = battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER);
        b.chargeCounterUah = counter == Integer.MIN_VALUE ? null : (long) counter;
        Intent sticky = batteryIntent();
        if (sticky != null) {
            int plugged = sticky.getIntExtra(BatteryManager.EXTRA_PLUGGED, -1);
            b.plugged = plugged > 0;
            b.pluggedSource = plugged == BatteryManager.BATTERY_PLUGGED_USB ? "usb"
                    : plugged == BatteryManager.BATTERY_PLUGGED_AC ? "ac"
                    : plugged == BatteryManager.BATTERY_PLUGGED_WIRELESS ? "wireless"
                    : plugged > 0 ? "other" : plugged == 0 ? "none" : null;
        }
        return b;
    }

    /** Battery temperature in C from the sticky broadcast (tenths of a degree), null when absent. */
    Double batteryTemperatureC() {
        Intent sticky = batteryIntent();
        int tenths = sticky == null ? Integer.MIN_VALUE : sticky.getIntExtra(BatteryManager.EXTRA_TEMPERATURE,
                Integer.MIN_VALUE);
        return tenths == Integer.MIN_VALUE ? null : tenths / 10.0;
    }

    /** PowerManager.getCurrentThermalStatus (0 none .. 6 shutdown) on Android 10+, else null. */
    Integer thermalStatus() {
        return Build.VERSION.SDK_INT >= 29 ? power.getCurrentThermalStatus() : null;
    }

    /** PowerManager.getThermalHeadroom(0) on Android 11+: 1.0 is where throttling starts; NaN means unknown. */
    Double thermalHeadroom() {
        if (Build.VERSION.SDK_INT < 30) {
            return null;
        }
        float h = power.getThermalHeadroom(0);
        return Float.isNaN(h) ? null : (double) h;
    }

    /** The app's total PSS in MB (its share of memory, shared pages split). */
    static double pssMb() {
        Debug.MemoryInfo info = new Debug.MemoryInfo();
        Debug.getMemoryInfo(info);
        return Math.round(info.getTotalPss() / 1024.0 * 1000) / 1000.0;
    }

    /** A /proc/self/status field in kB (VmHWM is the peak resident set), null when unreadable. */
    static Long procStatusKb(String field) {
        try (BufferedReader r = new BufferedReader(new FileReader("/proc/self/status"))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return null;
        }
        return null;
    }

    /** Reset VmHWM as the runner does (write 5 to clear_refs); false where the kernel or SELinux refuses. */
    static boolean resetPeakRss() {
        try (FileWriter w = new FileWriter("/proc/self/clear_refs")) {
            w.write("5");
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
