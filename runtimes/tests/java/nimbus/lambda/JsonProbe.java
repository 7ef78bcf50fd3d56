package nimbus.lambda;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Test harness for the runtime's JSON reader and writer: one JSON text per input line;
 * prints what `Pojo.write(Json.parse(line))` makes of it, or `ERR <message>` when the
 * reader refuses it. Any other exception ends the process: that is a bug.
 */
public final class JsonProbe {
    private JsonProbe() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            try {
                out.println(Pojo.write(Json.parse(line)));
            } catch (Json.ParseException e) {
                out.println("ERR " + e.getMessage());
            }
        }
        out.flush();
    }
}
