import { stopSharedServices } from './services';

/** Root hooks: the shared servers some suites start lazily are stopped once, after all tests. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopSharedServices();
  },
};
