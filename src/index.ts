export * from './event-notification-service';
export * from './props';
export * from './inbound-webhook-source';
