// berthDeploy: a Jenkins shared-library step that deploys a built image through berth and
// fails the build with the reason when berth refuses or the deploy fails.
//
//   @Library('berth') _
//   berthDeploy service: 'order-service', environment: 'test',
//               image: "registry.local/shop/order-service:${env.GIT_COMMIT}"
//
// Parameters: service, environment, image (required); credentialsId (a "secret text"
// credential holding a pipeline token, default 'berth-pipeline-token'); url (default: the
// agent's BERTH_URL); timeout (seconds, default 600). The agent needs the `berth` command
// (pip install <berth checkout>/client).
//
// The values reach the shell as environment variables and the script is a single-quoted
// Groovy string: nothing is interpolated by Groovy, so neither the token nor an odd image
// name can end up in the build log's command line or be run as shell code.
def call(Map args = [:]) {
    for (String key : ['service', 'environment', 'image']) {
        if (!args[key]) {
            error("berthDeploy: '${key}' is required")
        }
    }
    String credentialsId = args.credentialsId ?: 'berth-pipeline-token'
    List<String> vars = [
        "BERTH_SERVICE=${args.service}",
        "BERTH_ENVIRONMENT=${args.environment}",
        "BERTH_IMAGE=${args.image}",
        "BERTH_DEPLOY_TIMEOUT=${args.timeout ?: 600}",
    ]
    if (args.url) {
        vars << "BERTH_URL=${args.url}"
    }
    int code
    withCredentials([string(credentialsId: credentialsId, variable: 'BERTH_TOKEN')]) {
        withEnv(vars) {
            code = sh(returnStatus: true, label: "berth deploy ${args.service} to ${args.environment}", script: 'berth deploy "$BERTH_SERVICE" "$BERTH_ENVIRONMENT" "$BERTH_IMAGE" --wait --timeout "$BERTH_DEPLOY_TIMEOUT"')
        }
    }
    String what = "${args.service} ${args.image} to ${args.environment}"
    switch (code) {
        case 0:
            echo("berthDeploy: ${what} succeeded")
            return
        case 1:
            error("berthDeploy: the deploy of ${what} failed or did not finish in time (exit 1; the reason is above)")
            break
        case 2:
            error("berthDeploy: berth refused to deploy ${what} (exit 2; its reasons are above)")
            break
        case 3:
            error("berthDeploy: berth could not be reached, or kept failing, after the retries (exit 3)")
            break
        default:
            error("berthDeploy: berth deploy exited ${code} (is the berth command installed on this agent?)")
    }
}
