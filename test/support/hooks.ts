import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopSharedServices } from './services';

// Workers log state changes at INFO; tests show warnings and errors only.
Runtime.install({ logger: new DefaultLogger('WARN') });
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Root hooks: the shared servers some suites start lazily are stopped once, after all tests. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopSharedServices();
  },
};
