/**
 * tfjs-core's CommonJS build does not register the gradients of its ops (its ES-module entry does, and the
 * @tensorflow/tfjs package bundles them). Training needs them: importing this module registers them once
 * in the shared tfjs-core registry.
 */
import '@tensorflow/tfjs';
