export * from './event-notification-service';
export * from './props';
