package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;
import org.crac.Core;
import org.crac.Resource;

/** A SnapStart handler: its hooks record when they ran. */
public class Snap implements RequestHandler<Object, Map<String, Object>>, Resource {
    private int beforeCheckpoint;
    private int afterRestore;
    private int invocations;

    public Snap() {
        Core.getGlobalContext().register(this);
    }

    @Override
    public void beforeCheckpoint(org.crac.Context<? extends Resource> context) {
        beforeCheckpoint++;
        System.out.println("beforeCheckpoint ran");
    }

    @Override
    public void afterRestore(org.crac.Context<? extends Resource> context) {
        afterRestore++;
        System.out.println("afterRestore ran");
        if (System.getenv("REFUSE_RESTORE") != null) {
            throw new IllegalStateException("restore refused");
        }
    }

    @Override
    public Map<String, Object> handleRequest(Object input, Context context) {
        invocations++;
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("beforeCheckpoint", beforeCheckpoint);
        out.put("afterRestore", afterRestore);
        out.put("invocations", invocations);
        out.put("initType", System.getenv("AWS_LAMBDA_INITIALIZATION_TYPE"));
        return out;
    }
}
