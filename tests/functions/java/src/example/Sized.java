package example;

import java.util.LinkedHashMap;
import java.util.Map;

/** Answers a body of the asked size: past 6 MB, the platform refuses it. */
public class Sized {
    private int invocations;

    public Map<String, Object> handleRequest(Map<String, Object> event) {
        invocations++;
        int n = ((Number) event.get("size")).intValue();
        StringBuilder pad = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            pad.append('x');
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("invocations", invocations);
        out.put("pad", pad.toString());
        return out;
    }
}
